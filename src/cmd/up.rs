//! `authpulse up`: migrate + ingest + api in one process with demo traffic
//! (deploy/local/up.sh starts the servers and runs this); SIGINT/SIGTERM
//! stops the consumer (which stores and commits what it holds) and the API.

use super::api::{self, ApiArgs};
use super::ingest;
use super::{demo, migrate};

#[derive(clap::Args)]
pub struct Args {
    /// ClickHouse, Kafka and the consumer, as `ingest` takes them.
    #[command(flatten)]
    pub ingest: ingest::Args,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Demo events produced at start.
    #[arg(long, default_value_t = 2000)]
    pub demo_events: u64,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let Args {
        ingest: ingest::Args {
            store,
            kafka,
            ingest,
        },
        api,
        demo_events,
    } = a;
    let client = store.checked_client().await?;
    kafka.check().await?;
    let topic = kafka.first_topic()?;
    let report = authpulse_store::migrate(
        &client,
        &store.database,
        &migrate::zones(std::slice::from_ref(&api.report_tz))?,
        None,
    )
    .await?;
    tracing::info!(applied = report.applied.len(), "migrations done");
    ingest::readiness(&store, &kafka)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let ingest_task = tokio::spawn(authpulse_ingest::run(
        ingest::config(&store, &kafka, &ingest),
        wait(rx.clone()),
    ));
    let demo = demo::profile(demo_events, 24 * 30);
    let orgs = demo::org_slugs(&demo);
    let mut config = api::config(&api)?;
    if api.auth_config.is_none() {
        // The demo key gets every scope and membership of the demo orgs, so
        // the org analytics answer it too.
        let memberships: serde_json::Map<String, serde_json::Value> = orgs
            .iter()
            .map(|o| (o.clone(), serde_json::json!("Admin")))
            .collect();
        let keys: Vec<serde_json::Value> = api
            .api_keys
            .iter()
            .map(|k| serde_json::json!({"key": k, "name": "demo", "scopes": ["*"], "memberships": memberships}))
            .collect();
        let json = serde_json::json!({ "api_keys": keys }).to_string();
        let auth = authpulse_api::Authenticator::from_json(&json, std::path::Path::new("."), &[])
            .map_err(|e| anyhow::anyhow!("demo auth: {e}"))?;
        config.auth = std::sync::Arc::new(auth);
    }
    let listener = super::bind(api.listen).await?;
    let api_task = tokio::spawn(authpulse_api::serve(
        listener,
        config,
        store.store()?,
        wait(rx.clone()),
    ));
    if demo_events > 0 {
        let n = demo::produce(kafka.brokers(), kafka.security(), topic, &demo).await?;
        tracing::info!(
            events = n,
            "demo traffic produced (last 30 days, every event type)"
        );
    }
    let now = chrono::Utc::now();
    let (end, month_ago) = (
        now.timestamp_millis(),
        (now - chrono::Duration::days(30)).timestamp_millis(),
    );
    let key = api.api_keys.first().cloned().unwrap_or_default();
    let (base, org, month) = (
        format!("http://{}", api.listen),
        &orgs[0],
        now.format("%Y%m"),
    );
    println!(
        "
authpulse is up. Demo traffic: {demo_events} events of every type over the last 30 days.

  API (key {key}; OpenAPI at {base}/openapi.json, examples in docs/api.md)
    curl -s -H 'Authorization: {key}' '{base}/api/report/login?start={month_ago}&end={end}'
    curl -s -H 'Authorization: {key}' '{base}/api/report/daily-active-users?start={month_ago}&end={end}'
    curl -s -H 'Authorization: {key}' '{base}/api/report/totals'
    curl -s -H 'Authorization: Bearer {key}' '{base}/jans-auth/restv1/internal/stat?month={month}'
    curl -s -H 'Authorization: Bearer {key}' '{base}/api/organizations/{org}/analytics/login-trends'
    curl -s -H 'Authorization: Bearer {key}' '{base}/api/admin/stats'
    curl -s -H 'Authorization: Bearer {key}' '{base}/api/admin/audit?pageSize=5'
    curl -s '{base}/jans-auth/sys/health-check'
  Ingest metrics: http://{metrics}/metrics
  ClickHouse:     {ch}  (database {db}; Grafana dashboard in deploy/grafana/)
    curl -s '{ch}/?query=SELECT+reason,count()+FROM+{db}.dead_letters+GROUP+BY+reason'
  Kafka:          {brokers}  topic {topic} (dead letters: {dlq})
Ctrl-C stops everything.
",
        metrics = ingest.metrics_listen.map(|a| a.to_string()).unwrap_or_else(|| "(not served)".into()),
        ch = store.clickhouse_url,
        db = store.database,
        brokers = kafka.brokers(),
        dlq = ingest.dlq_topic,
    );
    super::shutdown_signal().await;
    let _ = tx.send(true);
    ingest_task.await??;
    api_task.await??;
    Ok(())
}
