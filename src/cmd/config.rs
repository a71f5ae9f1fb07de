//! `authpulse config`: system configuration kept in ClickHouse, and the
//! reference of every setting (docs/operations.md).

use clap::{CommandFactory as _, Subcommand};

use super::servers::StoreArgs;

#[derive(Subcommand)]
pub enum Action {
    /// Print the configuration-file / environment reference (markdown), as
    /// in docs/operations.md.
    Reference,
    /// Set a key: `authpulse config set --key audit_retention_days --value 365`.
    Set {
        #[command(flatten)]
        store: StoreArgs,
        /// Configuration key (known: audit_retention_days).
        #[arg(long)]
        key: String,
        /// New value (validated for the key).
        #[arg(long)]
        value: String,
    },
    /// Print the value of a key (its default when unset).
    Get {
        #[command(flatten)]
        store: StoreArgs,
        /// Configuration key (known: audit_retention_days).
        #[arg(long)]
        key: String,
    },
}

pub async fn run(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Reference => print!("{}", crate::config_file::reference(&crate::Cli::command())),
        Action::Set { store, key, value } => {
            let value = store.store()?.config_set(&key, &value).await?;
            println!("{key} = {value}");
        }
        Action::Get { store, key } => {
            if !authpulse_store::CONFIG_KEYS.contains(&key.as_str()) {
                anyhow::bail!(
                    "unknown configuration key {key:?} (known: {})",
                    authpulse_store::CONFIG_KEYS.join(", ")
                );
            }
            match store.store()?.config_get(&key).await? {
                Some(v) => println!("{v}"),
                None => {
                    eprintln!("{key} is not set; using the default");
                    println!("{}", authpulse_store::DEFAULT_AUDIT_RETENTION_DAYS);
                }
            }
        }
    }
    Ok(())
}
