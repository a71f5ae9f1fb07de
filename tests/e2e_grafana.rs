//! The Grafana dashboards against a real pipeline: every ClickHouse panel's
//! SQL, with template variables and the grafana-clickhouse-datasource
//! macros expanded as Grafana and the plugin expand them, runs on
//! ClickHouse filled by loadgen, returns rows for every variable choice,
//! and agrees with the API (and the loadgen oracle) for the same range.
//! Every metric the ingest-health dashboard queries is exported.
//! Static schema rules (panel types, grid, datasource uids, variables) are
//! checked by deploy/validate/validate.py.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use authpulse_loadgen::{Oracle, Profile};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use common::admin::get_json;
use common::grafana::{panel_query, panels, Query};
use common::pipeline::{produce_stream, start_stack, wait_ingested};
use common::*;
use serde_json::{json, Value};

const KEY: &str = "grafana-key-0123456789";

/// Runs a panel's SQL; rows as JSON objects, `time` as Unix seconds.
fn run_panel(stack: &Stack, sql: &str, q: &Query) -> Vec<Value> {
    stack
        .query_in("authpulse", &panel_query(sql, q))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        v => v.as_u64().unwrap(),
    }
}

/// `column` summed per `time` (seconds → hours or days since the epoch).
fn series(rows: &[Value], column: &str, per: i64) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    for r in rows {
        let n = num(&r[column]);
        if n > 0 {
            *out.entry(num(&r["time"]) as i64 / per).or_default() += n;
        }
    }
    out
}

fn api_counts(v: &Value, key: &str) -> BTreeMap<i64, u64> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["interval"].as_i64().unwrap(),
                c["count"].as_u64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn panel<'a>(panels: &'a [Value], title: &str) -> &'a str {
    panels
        .iter()
        .find(|p| p["title"].as_str().unwrap().starts_with(title))
        .unwrap_or_else(|| panic!("no panel {title}"))["targets"][0]["rawSql"]
        .as_str()
        .unwrap()
}

fn profile() -> Profile {
    Profile {
        seed: 47,
        events: 8_000,
        orgs: 2,
        apps_per_org: 2,
        users_per_org: 200,
        start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(40),
        duplicate_fraction: 0.0,
        poison_fraction: 0.01,
        ..Profile::default()
    }
}

#[test]
fn dashboards_run_on_loadgen_data_and_agree_with_the_api() {
    let mut stack = start_stack("grafana", 2, "UTC,America/Denver");
    let p = profile();
    let oracle: Oracle = produce_stream(&stack, "auth-events", &p);
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    stack.spawn(
        &[
            "ingest",
            "--batch-wait-ms",
            "200",
            "--metrics-listen",
            &metrics_listen,
        ],
        "ingest.log",
    );
    wait_ingested(&stack, &oracle, &["ingest.log"]);

    let auth = stack.dir.join("auth.json");
    std::fs::write(
        &auth,
        json!({"api_keys": [{"key": KEY, "name": "grafana", "scopes": ["*"]}]}).to_string(),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    stack.spawn(
        &[
            "api",
            "--listen",
            &listen,
            "--auth-config",
            auth.to_str().unwrap(),
            "--report-tz",
            "UTC",
        ],
        "api.log",
    );
    let base = format!("http://{listen}");
    eventually(Duration::from_secs(60), || {
        (http_get(&format!("{base}/readyz"), None).0 == 200).then_some(())
    })
    .expect("api ready");

    // The whole loadgen span, on whole days.
    let from = p.start - chrono::Duration::days(1);
    let to = p.start + p.span + chrono::Duration::days(2);
    let (start_ms, end_ms) = (from.timestamp_millis(), to.timestamp_millis());
    let q = |interval_s: i64, org: &str, app: &str, tz: &str| Query {
        from,
        to,
        interval_s,
        vars: BTreeMap::from([
            ("org", org.to_string()),
            ("app", app.to_string()),
            ("tz", tz.to_string()),
        ]),
    };
    let overview = panels("authpulse-overview.json");

    // Variables: the same queries Grafana runs to fill them.
    let org = stack
        .query_in(
            "authpulse",
            "SELECT org_slug FROM org_owned_slugs ORDER BY org_slug LIMIT 1",
        )
        .trim()
        .to_string();
    let app_sql = "SELECT DISTINCT application_name FROM application_names WHERE '${org}' = '__all' OR org_id IN (SELECT org_id FROM org_owned_slugs WHERE org_slug = '${org}') ORDER BY application_name";
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/dashboards/authpulse-overview.json"))
            .unwrap(),
    )
    .unwrap();
    let var_sql = |name: &str| {
        dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()["query"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        var_sql("app"),
        app_sql,
        "the app variable's query as tested here"
    );
    let apps = run_panel(&stack, &var_sql("app"), &q(3600, &org, "__all", "UTC"));
    let app = apps[0]["application_name"].as_str().unwrap().to_string();
    let zones = stack.query_in("authpulse", &var_sql("tz"));
    assert_eq!(zones.lines().collect::<Vec<_>>(), ["UTC", "America/Denver"]);
    let app_ids: Vec<String> = stack
        .query_in(
            "authpulse",
            &format!("SELECT toString(application_id) FROM application_names FINAL WHERE application_name = '{app}'"),
        )
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        app_ids.len(),
        1,
        "application names are unique in loadgen data"
    );

    // Every panel returns rows for every variable choice.
    for p in &overview {
        let sql = p["targets"][0]["rawSql"].as_str().unwrap();
        for (o, a) in [
            ("__all", "__all"),
            (org.as_str(), "__all"),
            ("__all", app.as_str()),
            (org.as_str(), app.as_str()),
        ] {
            for tz in ["UTC", "America/Denver"] {
                for interval in [900, 3600, 86_400] {
                    let rows = run_panel(&stack, sql, &q(interval, o, a, tz));
                    assert!(
                        !rows.is_empty(),
                        "{} returned no rows for org {o}, app {a}, tz {tz}",
                        p["title"]
                    );
                }
            }
        }
    }

    // Logins per hour and per day = the FusionAuth login report (UTC) = oracle.
    let range = format!("start={start_ms}&end={end_ms}");
    let login = get_json(&format!("{base}/api/report/login?{range}"), KEY);
    let api_hourly = api_counts(&login, "hourlyCounts");
    assert_eq!(
        api_hourly,
        oracle
            .login_hourly(Tz::UTC, None)
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    );
    let total = panel(&overview, "Successful logins (all selected)");
    assert_eq!(
        series(
            &run_panel(&stack, total, &q(3600, "__all", "__all", "UTC")),
            "logins",
            3600
        ),
        api_hourly
    );
    let mut api_daily: BTreeMap<i64, u64> = BTreeMap::new();
    for (h, n) in &api_hourly {
        *api_daily.entry(h.div_euclid(24)).or_default() += n;
    }
    assert_eq!(
        series(
            &run_panel(&stack, total, &q(86_400, "__all", "__all", "UTC")),
            "logins",
            86_400
        ),
        api_daily
    );
    let outcome = panel(&overview, "Logins: succeeded vs failed");
    let rows = run_panel(&stack, outcome, &q(86_400, "__all", "__all", "UTC"));
    assert_eq!(series(&rows, "succeeded", 86_400), api_daily);
    let failed: u64 = rows.iter().map(|r| num(&r["failed"])).sum();
    let orgs = stack.query_in(
        "authpulse",
        "SELECT DISTINCT toString(org_id) FROM org_owned_slugs",
    );
    let oracle_failed: u64 = orgs
        .lines()
        .flat_map(|o| oracle.org_logins_daily(o.parse().unwrap()).into_values())
        .map(|(_, f)| f)
        .sum();
    assert!(oracle_failed > 0);
    assert_eq!(failed, oracle_failed, "failed logins = oracle");
    let reasons = run_panel(
        &stack,
        panel(&overview, "Failed logins by reason"),
        &q(3600, "__all", "__all", "UTC"),
    );
    assert_eq!(
        reasons.iter().map(|r| num(&r["failures"])).sum::<u64>(),
        oracle_failed
    );

    // One application: the hourly panel at level 1 = the report for that id.
    let by_app = get_json(
        &format!(
            "{base}/api/report/login?{range}&applicationId={}",
            app_ids[0]
        ),
        KEY,
    );
    assert_eq!(
        series(
            &run_panel(&stack, total, &q(3600, "__all", &app, "UTC")),
            "logins",
            3600
        ),
        api_counts(&by_app, "hourlyCounts")
    );

    // Daily active users (UTC days) = the DAU report, all and one application.
    let dau = panel(&overview, "Daily active users");
    let api_dau = api_counts(
        &get_json(
            &format!("{base}/api/report/daily-active-users?{range}"),
            KEY,
        ),
        "dailyActiveUsers",
    );
    assert!(api_dau.len() > 30);
    assert_eq!(
        series(
            &run_panel(&stack, dau, &q(86_400, "__all", "__all", "UTC")),
            "dau",
            86_400
        ),
        api_dau
    );
    let api_dau_app = api_counts(
        &get_json(
            &format!(
                "{base}/api/report/daily-active-users?{range}&applicationId={}",
                app_ids[0]
            ),
            KEY,
        ),
        "dailyActiveUsers",
    );
    assert_eq!(
        series(
            &run_panel(&stack, dau, &q(86_400, "__all", &app, "UTC")),
            "dau",
            86_400
        ),
        api_dau_app
    );

    // Monthly active users = the MAU report.
    let mau = run_panel(
        &stack,
        panel(&overview, "Monthly active users"),
        &q(86_400, "__all", "__all", "UTC"),
    );
    let api_mau = api_counts(
        &get_json(
            &format!("{base}/api/report/monthly-active-users?{range}"),
            KEY,
        ),
        "monthlyActiveUsers",
    );
    assert_eq!(
        mau.iter().map(|r| num(&r["mau"])).collect::<Vec<_>>(),
        api_mau.values().copied().collect::<Vec<_>>()
    );

    // Registrations per hour = the registration report; the organization
    // branch (15-minute rollup) sums to the same over both organizations.
    let reg = panel(&overview, "Registrations");
    let api_reg = api_counts(
        &get_json(&format!("{base}/api/report/registration?{range}"), KEY),
        "hourlyCounts",
    );
    assert_eq!(
        series(
            &run_panel(&stack, reg, &q(3600, "__all", "__all", "UTC")),
            "registrations",
            3600
        ),
        api_reg
    );
    let slugs = stack.query_in("authpulse", "SELECT DISTINCT org_slug FROM org_owned_slugs");
    let mut per_org: BTreeMap<i64, u64> = BTreeMap::new();
    for slug in slugs.lines() {
        for (h, n) in series(
            &run_panel(&stack, reg, &q(3600, slug, "__all", "UTC")),
            "registrations",
            3600,
        ) {
            *per_org.entry(h).or_default() += n;
        }
    }
    assert_eq!(
        per_org, api_reg,
        "organization branch agrees with the hourly rollup"
    );

    // Tokens: the hourly branch (everything) = the 15-minute branch summed
    // over organizations; both = the oracle's token count.
    let tokens = panel(&overview, "Tokens issued by grant type");
    let total_tokens = |o: &str| -> u64 {
        run_panel(&stack, tokens, &q(3600, o, "__all", "UTC"))
            .iter()
            .map(|r| num(&r["tokens"]))
            .sum()
    };
    let all = total_tokens("__all");
    assert_eq!(all, oracle.events_by_type()["token"]);
    assert_eq!(slugs.lines().map(total_tokens).sum::<u64>(), all);

    // Audit activity = the oracle's audit events by action.
    let audit = run_panel(
        &stack,
        panel(&overview, "Audit activity by action"),
        &q(3600, "__all", "__all", "UTC"),
    );
    let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
    for r in &audit {
        *by_action
            .entry(r["action"].as_str().unwrap().to_string())
            .or_default() += num(&r["events"]);
    }
    assert_eq!(by_action, oracle.audit_by_action());

    // Ingest health: every metric a panel queries is exported by ingest or
    // the API (API series exist once it served a request).
    let mut exported = http_get(&format!("http://{metrics_listen}/metrics"), None).1;
    exported.push_str(&http_get(&format!("{base}/metrics"), None).1);
    let health = panels("authpulse-ingest-health.json");
    let mut names = Vec::new();
    for p in &health {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if token.starts_with("authpulse_") || token.starts_with("process_") {
                    // A histogram's series: its TYPE line names the histogram.
                    let name = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| token.strip_suffix(s))
                        .unwrap_or(token);
                    names.push(name.to_string());
                }
            }
        }
    }
    assert!(names.len() >= 12);
    for n in names {
        assert!(
            exported.contains(&format!("# TYPE {n} ")),
            "{n} is not exported:\n{exported}"
        );
    }
    assert!(exported.contains("authpulse_ingest_store_seconds_bucket{le=\""));
    assert!(exported.contains(
        "authpulse_api_requests_total{route=\"/api/report/login\",method=\"GET\",status=\"200\"}"
    ));
    assert_eq!(
        http_get(&format!("http://{metrics_listen}/readyz"), None).0,
        200
    );
    assert_eq!(
        http_get(&format!("http://{metrics_listen}/healthz"), None).0,
        200
    );
}
