//! Grafana's side of a panel query, for the tests that run the dashboards'
//! SQL on real servers: template variables and the
//! grafana-clickhouse-datasource macros expanded as Grafana and the plugin
//! expand them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::repo;

/// What Grafana hands the plugin for one query.
pub struct Query {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub interval_s: i64,
    pub vars: BTreeMap<&'static str, String>,
}

/// Grafana's template interpolation (`$name`, `${name}`, `${name:fmt}`,
/// `[[name]]`), for single-valued variables: names it does not know are
/// left as they are (as Grafana does with `$__interval_s`, a plugin macro).
pub fn interpolate(sql: &str, vars: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::new();
    let mut rest = sql;
    let word = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, len) = if let Some(t) = tail.strip_prefix("${") {
            let end = t.find('}').expect("unclosed ${");
            (t[..end].split(':').next().unwrap().to_string(), end + 3)
        } else if let Some(t) = tail.strip_prefix("[[") {
            let end = t.find("]]").unwrap_or(0);
            (t[..end].split(':').next().unwrap().to_string(), end + 4)
        } else if let Some(t) = tail.strip_prefix('$') {
            let n = word(t);
            (t[..n].to_string(), n + 1)
        } else {
            (String::new(), 1)
        };
        match vars.get(name.as_str()) {
            Some(v) if !name.is_empty() => out.push_str(v),
            _ => out.push_str(&tail[..len.max(1)]),
        }
        rest = &tail[len.max(1)..];
    }
    out.push_str(rest);
    out
}

/// The plugin's macros (pkg/macros/macros.go of grafana/clickhouse-datasource):
/// seconds as `toDateTime(unix)`, milliseconds as
/// `fromUnixTimestamp64Milli(ms)`, dates as `toDate('YYYY-MM-DD')` (UTC),
/// filters inclusive at both ends, interval at least 1 s.
pub fn expand_macros(sql: &str, q: &Query) -> String {
    let (from, to) = (q.from, q.to);
    let dt = |t: DateTime<Utc>| format!("toDateTime({})", t.timestamp());
    let dt64 = |t: DateTime<Utc>| format!("fromUnixTimestamp64Milli({})", t.timestamp_millis());
    let date = |t: DateTime<Utc>| format!("toDate('{}')", t.format("%Y-%m-%d"));
    let interval = q.interval_s.max(1);
    let mut out = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find("$__") {
        out.push_str(&rest[..i]);
        let t = &rest[i + 3..];
        let n = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(t.len());
        let name = &t[..n];
        let mut after = &t[n..];
        let mut args: Vec<String> = Vec::new();
        if let Some(a) = after.strip_prefix('(') {
            let close = a.find(')').expect("macro arguments closed");
            args = a[..close]
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            after = &a[close + 1..];
        }
        let one = || {
            assert_eq!(args.len(), 1, "$__{name} takes one argument");
            args[0].clone()
        };
        let text = match name {
            "fromTime" => dt(from),
            "toTime" => dt(to),
            "fromTime_ms" => dt64(from),
            "toTime_ms" => dt64(to),
            "timeFilter" => {
                let c = one();
                format!("{c} >= {} AND {c} <= {}", dt(from), dt(to))
            }
            "timeFilter_ms" => {
                let c = one();
                format!("{c} >= {} AND {c} <= {}", dt64(from), dt64(to))
            }
            "dateFilter" => {
                let c = one();
                format!("{c} >= {} AND {c} <= {}", date(from), date(to))
            }
            "dateTimeFilter" | "dt" => {
                assert_eq!(args.len(), 2, "$__{name} takes two arguments");
                let (d, c) = (&args[0], &args[1]);
                format!(
                    "({d} >= {} AND {d} <= {}) AND ({c} >= {} AND {c} <= {})",
                    date(from),
                    date(to),
                    dt(from),
                    dt(to)
                )
            }
            "timeInterval" => format!(
                "toStartOfInterval(toDateTime({}), INTERVAL {interval} second)",
                one()
            ),
            "interval_s" => interval.to_string(),
            other => panic!("$__{other} is not a grafana-clickhouse-datasource macro"),
        };
        out.push_str(&text);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A panel's SQL as the plugin sends it, wrapped to return JSON rows with
/// `time` as Unix seconds.
pub fn panel_query(sql: &str, q: &Query) -> String {
    let sql = expand_macros(&interpolate(sql, &q.vars), q);
    if sql.contains(" AS time") {
        format!(
            "SELECT * REPLACE (toUnixTimestamp(time) AS time) FROM (\n{sql}\n) FORMAT JSONEachRow"
        )
    } else {
        format!("SELECT * FROM (\n{sql}\n) FORMAT JSONEachRow")
    }
}

/// The panels of a dashboard in deploy/grafana/dashboards.
pub fn panels(file: &str) -> Vec<Value> {
    let path = repo().join("deploy/grafana/dashboards").join(file);
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    d["panels"].as_array().unwrap().clone()
}
