//! `authpulse`: one binary, one subcommand per role. This file parses the
//! command line (after loading the `--config` file), sets up logging and
//! hands the subcommand to [`cmd::run`]; each subcommand lives in its own
//! module under `src/cmd/`.

mod cmd;
mod config_file;

use clap::{CommandFactory as _, Parser, ValueEnum};

#[derive(Parser)]
#[command(
    name = "authpulse",
    version,
    about = "Identity and authentication analytics: Kafka → ClickHouse → report APIs"
)]
pub struct Cli {
    /// Configuration file (TOML; keys are the AUTHPULSE_* names, lower-case,
    /// without the prefix). Precedence: flags > environment > file > defaults.
    #[arg(long, global = true, env = "AUTHPULSE_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Log format on stderr (`RUST_LOG` sets the levels).
    #[arg(
        long,
        global = true,
        env = "AUTHPULSE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    pub command: cmd::Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    /// One JSON object per line (tracing-subscriber json).
    Json,
}

fn main() -> anyhow::Result<()> {
    // The file's settings become environment variables before anything
    // else runs (no other thread yet), then clap reads flags and env.
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = config_file::path_from(&args) {
        config_file::apply(&config_file::read(&Cli::command(), &path)?);
    }
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    tokio::runtime::Runtime::new()?.block_on(cmd::run(cli.command))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clap's own consistency checks (unique argument ids across the
    /// flattened option groups, ...), which otherwise fire only at run time.
    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
