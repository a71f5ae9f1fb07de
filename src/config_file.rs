//! The configuration file (`--config FILE` / `AUTHPULSE_CONFIG`): a flat TOML
//! table whose keys are the `AUTHPULSE_*` environment names without the
//! prefix, lower-cased (`AUTHPULSE_BATCH_ROWS` → `batch_rows`). Loading it
//! sets each key's environment variable unless the environment already has
//! it, before the command line is parsed: so flags > environment > file >
//! defaults, and every setting with an environment name is configurable in
//! the file, including those added later. Reference: docs/operations.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

pub const ENV_PREFIX: &str = "AUTHPULSE_";
/// Environment names that cannot come from the file.
const NOT_IN_FILE: &[&str] = &["AUTHPULSE_CONFIG"];

/// One setting that has an environment name, as the CLI defines it.
#[derive(Debug, Clone)]
pub struct Setting {
    pub env: String,
    /// The flag(s) taking it (a subcommand may name it differently).
    pub flags: Vec<String>,
    pub default: String,
    pub help: String,
    /// Subcommand paths (`ingest`, `sketch export`) taking it.
    pub commands: Vec<String>,
}

impl Setting {
    pub fn key(&self) -> String {
        self.env[ENV_PREFIX.len()..].to_ascii_lowercase()
    }
}

/// Every setting with an `AUTHPULSE_*` environment name, by name.
pub fn settings(cmd: &clap::Command) -> BTreeMap<String, Setting> {
    let mut out = BTreeMap::new();
    walk(cmd, "", &mut out);
    out
}

fn walk(cmd: &clap::Command, path: &str, out: &mut BTreeMap<String, Setting>) {
    for arg in cmd.get_arguments() {
        let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
            continue;
        };
        if !env.starts_with(ENV_PREFIX) || NOT_IN_FILE.contains(&env) {
            continue;
        }
        let s = out.entry(env.to_string()).or_insert_with(|| Setting {
            env: env.to_string(),
            flags: Vec::new(),
            default: arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(","),
            help: arg
                .get_help()
                .map(|h| h.to_string())
                .unwrap_or_default()
                .replace('\n', " "),
            commands: Vec::new(),
        });
        if let Some(l) = arg.get_long().map(|l| format!("--{l}")) {
            if !s.flags.contains(&l) {
                s.flags.push(l);
            }
        }
        let here = if path.is_empty() { "(all)" } else { path };
        if !s.commands.iter().any(|c| c == here) {
            s.commands.push(here.to_string());
        }
    }
    for sub in cmd.get_subcommands() {
        let p = if path.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{path} {}", sub.get_name())
        };
        walk(sub, &p, out);
    }
}

/// The file named by `--config FILE` / `--config=FILE` in `args`, else by
/// `AUTHPULSE_CONFIG`.
pub fn path_from(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("AUTHPULSE_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The file's settings as (environment name, value) pairs; an unknown key,
/// a nested table or an unreadable file is an error naming it.
pub fn read(cmd: &clap::Command, path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    parse(cmd, &text).with_context(|| format!("config file {}", path.display()))
}

pub fn parse(cmd: &clap::Command, text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse()?;
    let known = settings(cmd);
    let mut out = Vec::new();
    for (key, value) in table {
        let env = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
        if key.chars().any(|c| c.is_ascii_uppercase()) || !known.contains_key(&env) {
            bail!(
                "unknown key {key:?} (keys are the AUTHPULSE_* environment names, lower-case, \
                 without the prefix; see docs/operations.md)"
            );
        }
        let scalar = |v: &toml::Value| -> anyhow::Result<String> {
            Ok(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => bail!("key {key:?}: {} is not a value it takes", other.type_str()),
            })
        };
        let value = match &value {
            // Lists are what the comma-separated settings take.
            toml::Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(","),
            v => scalar(v)?,
        };
        out.push((env, value));
    }
    Ok(out)
}

/// Sets the file's settings as environment variables where the
/// environment has none. Call before any other thread starts.
pub fn apply(settings: &[(String, String)]) {
    for (env, value) in settings {
        if std::env::var_os(env).is_none() {
            // SAFETY-relevant: single-threaded at this point (before the
            // runtime starts), so no concurrent getenv.
            std::env::set_var(env, value);
        }
    }
}

/// The configuration reference in docs/operations.md, generated from the
/// CLI definitions.
pub fn reference(cmd: &clap::Command) -> String {
    let mut out = String::from(
        "| file key | environment | flag | default | subcommands | meaning |\n|---|---|---|---|---|---|\n",
    );
    for s in settings(cmd).values() {
        let cell = |v: &str| {
            if v.is_empty() {
                "–".to_string()
            } else {
                format!("`{}`", v.replace('|', "\\|"))
            }
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            s.key(),
            s.env,
            cell(&s.flags.join("`, `")),
            cell(&s.default),
            s.commands.join(", "),
            s.help.replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super as config_file;
    use crate::cmd::Command;
    use crate::Cli;

    const REF_START: &str = "<!-- config-reference:start (generated from the CLI: AUTHPULSE_UPDATE_DOCS=1 cargo test --bin authpulse config_reference) -->\n";
    const REF_END: &str = "<!-- config-reference:end -->";

    /// docs/operations.md carries the reference generated from the clap
    /// definitions; `AUTHPULSE_UPDATE_DOCS=1` rewrites it.
    #[test]
    fn config_reference_matches_the_cli() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (head, rest) = doc.split_once(REF_START).expect("reference start marker");
        let (current, tail) = rest.split_once(REF_END).expect("reference end marker");
        let generated = config_file::reference(&Cli::command());
        if std::env::var_os("AUTHPULSE_UPDATE_DOCS").is_some() {
            std::fs::write(
                &path,
                format!("{head}{REF_START}{generated}{REF_END}{tail}"),
            )
            .unwrap();
            return;
        }
        assert_eq!(
            current, generated,
            "docs/operations.md is stale: AUTHPULSE_UPDATE_DOCS=1 cargo test --bin authpulse config_reference"
        );
    }

    #[test]
    fn config_file_keys_are_the_env_names() {
        let cmd = Cli::command();
        let got = config_file::parse(
            &cmd,
            "batch_rows = 5000\ntopics = [\"a\", \"b\"]\nlog_format = \"json\"\napi_listen = \"0.0.0.0:8080\"\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("AUTHPULSE_API_LISTEN", "0.0.0.0:8080"),
                ("AUTHPULSE_BATCH_ROWS", "5000"),
                ("AUTHPULSE_LOG_FORMAT", "json"),
                ("AUTHPULSE_TOPICS", "a,b"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        for (bad, named) in [
            ("batch_rowz = 1", "batch_rowz"),
            ("BATCH_ROWS = 1", "BATCH_ROWS"),
            ("config = \"x.toml\"", "config"),
            ("[ingest]\nbatch_rows = 1", "ingest"),
        ] {
            let e = format!("{:#}", config_file::parse(&cmd, bad).unwrap_err());
            assert!(e.contains(named), "{bad:?} -> {e}");
        }
        assert!(config_file::parse(&cmd, "batch_rows = [[1]]").is_err());
        // Every env-named setting has a key, and the keys are unique.
        let settings = config_file::settings(&cmd);
        for key in [
            "clickhouse_url",
            "brokers",
            "group",
            "api_keys",
            "metrics_listen",
            "report_tz",
            "raw_retention_days",
        ] {
            assert!(settings.values().any(|s| s.key() == key), "{key}");
        }
    }

    /// flags > environment > file > defaults. The only test in this binary
    /// touching these two variables (process-wide environment).
    #[test]
    fn config_file_precedence() {
        let cmd = Cli::command();
        let file = config_file::parse(
            &cmd,
            "stat_scope = \"from-file\"\nstat_cache_secs = 7\nrequest_timeout_secs = 9\n",
        )
        .unwrap();
        std::env::set_var("AUTHPULSE_STAT_CACHE_SECS", "8");
        config_file::apply(&file);
        let api = |extra: &[&str]| {
            let mut args = vec!["authpulse", "api", "--api-key", "k"];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Api(a) => a.api,
                _ => unreachable!(),
            }
        };
        let a = api(&[]);
        assert_eq!(
            (
                a.stat_scope.as_str(),
                a.stat_cache_secs,
                a.request_timeout_secs
            ),
            ("from-file", 8, 9)
        );
        let a = api(&["--stat-scope", "from-flag", "--stat-cache-secs", "6"]);
        assert_eq!((a.stat_scope.as_str(), a.stat_cache_secs), ("from-flag", 6));
        // Defaults stay for what nobody set.
        assert_eq!(a.body_limit_bytes, 1 << 20);
        for k in [
            "AUTHPULSE_STAT_SCOPE",
            "AUTHPULSE_STAT_CACHE_SECS",
            "AUTHPULSE_REQUEST_TIMEOUT_SECS",
        ] {
            std::env::remove_var(k);
        }
    }
}
