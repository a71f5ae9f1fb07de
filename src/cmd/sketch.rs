//! `authpulse sketch`: portable distinct-user sketches (export a month,
//! union files from several deployments; docs/scaling.md).

use std::path::PathBuf;

use clap::Subcommand;

use super::servers::StoreArgs;

#[derive(Subcommand)]
pub enum Action {
    /// Build a month's distinct-user HyperLogLog from the raw logins, store a
    /// copy in ClickHouse and write it to a file.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Local month, yyyyMM.
        #[arg(long)]
        month: String,
        /// Timezone whose calendar month is meant.
        #[arg(long, env = "AUTHPULSE_REPORT_TZ", default_value = "UTC")]
        tz: String,
        /// Name of what this sketch covers (deployment, region).
        #[arg(long, default_value = "local")]
        scope: String,
        /// Output file (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Union sketch files of the same month; prints the distinct-user estimate.
    Union {
        /// Sketch files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write the union sketch here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Export {
            store,
            month,
            tz,
            scope,
            out,
        } => {
            let tz = authpulse_store::parse_tz(&tz)?;
            let (y, m) = year_month(&month)?;
            let range = authpulse_store::Range::months(tz, (y, m), (y, m))?;
            let s = store.store()?.export_month_sketch(range, &scope).await?;
            std::fs::write(&out, s.to_json())?;
            println!(
                "{} {} {}: ~{:.0} distinct users -> {}",
                s.month,
                s.tz,
                s.scope,
                s.estimate(),
                out.display()
            );
        }
        Action::Union { files, out } => {
            let sketches = files
                .iter()
                .map(|f| {
                    let text = std::fs::read_to_string(f)?;
                    authpulse_store::PortableSketch::from_json(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let u = authpulse_store::union_sketches(&sketches)?;
            if let Some(out) = out {
                std::fs::write(out, u.to_json())?;
            }
            println!("{:.0}", u.estimate());
        }
    }
    Ok(())
}

/// `--month yyyyMM` as (year, month); the month's range is checked by
/// `Range::months`.
fn year_month(month: &str) -> anyhow::Result<(i32, u32)> {
    let bad = || anyhow::anyhow!("--month must be yyyyMM, not {month:?}");
    Ok((
        month
            .get(..4)
            .and_then(|y| y.parse::<i32>().ok())
            .ok_or_else(bad)?,
        month
            .get(4..)
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(bad)?,
    ))
}
