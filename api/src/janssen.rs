//! Janssen statistics (`/jans-auth/restv1/internal/stat`) and health check.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use authpulse_store::{versions, MonthStats, Range};
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde_json::{json, Map, Value};

use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::AppState;

/// At most this many months per request (ten years).
pub const MAX_MONTHS: usize = 120;
const CACHE_ENTRIES: u64 = 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/jans-auth/restv1/internal/stat",
            get(stat_get).post(stat_post),
        )
        .route("/jans-auth/sys/health-check", get(health))
}

/// Answers cached per month set (Janssen caches for an hour: recomputing a
/// many-month answer is the expensive part). A zero TTL turns it off.
pub struct Cache(Option<moka::sync::Cache<Vec<String>, Arc<MonthStats>>>);

impl Cache {
    pub fn new(ttl: Duration) -> Cache {
        Cache((!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .time_to_live(ttl)
                .build()
        }))
    }

    fn get(&self, key: &[String]) -> Option<Arc<MonthStats>> {
        self.0.as_ref()?.get(key)
    }

    fn put(&self, key: Vec<String>, value: Arc<MonthStats>) {
        if let Some(c) = &self.0 {
            c.insert(key, value);
        }
    }
}

async fn stat_get(
    auth: Auth,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    stat(auth, state, q).await
}

async fn stat_post(
    auth: Auth,
    State(state): State<AppState>,
    form: std::result::Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response> {
    match form {
        Ok(Form(q)) => stat(auth, state, q).await,
        // A missing or unreadable form body is a bad request in Janssen's
        // error shape (axum alone would answer 415/422 in plain text),
        // after the scope check like every other error.
        Err(_) if !auth.0.has_scope(&state.config.stat_scope) => Err(ApiError::Unauthorized),
        Err(e) => Err(invalid(format!(
            "the body must be a form (application/x-www-form-urlencoded): {}",
            e.body_text()
        ))),
    }
}

async fn stat(auth: Auth, state: AppState, q: HashMap<String, String>) -> Result<Response> {
    // Janssen answers 401 when the token lacks the stat scope.
    if !auth.0.has_scope(&state.config.stat_scope) {
        return Err(ApiError::Unauthorized);
    }
    let months = months(&q)?;
    let format = q.get("format").map(|s| s.trim()).filter(|s| !s.is_empty());
    if let Some(f) = format {
        if f != "jsonmonth" && f != "openmetrics" && f != "json" {
            return Err(invalid(format!(
                "unknown format {f:?}: use json, jsonmonth or openmetrics"
            )));
        }
    }
    let key: Vec<String> = months
        .iter()
        .map(|(y, m)| format!("{y:04}{m:02}"))
        .collect();
    let stats = match state.stat_cache.get(&key) {
        Some(s) => s,
        None => {
            let first = *months.first().expect("at least one month");
            let last = *months.last().expect("at least one month");
            let range = Range::months(state.config.report_tz, first, last)?;
            // Janssen's own TTL aside, kept until its tables change
            // (api/src/cache.rs).
            let (gate, store) = (state.gate.clone(), state.store.clone());
            let s = state
                .cache
                .value(
                    format!("janssen stat|{}", key.join(",")),
                    versions::JANSSEN_STAT,
                    || async move {
                        let _permit = gate.admit().await?;
                        Ok::<_, ApiError>(store.month_stats(range).await?)
                    },
                )
                .await?;
            state.stat_cache.put(key.clone(), s.clone());
            s
        }
    };
    let entry = |month: &str| {
        let tokens = stats.tokens.get(month).cloned().unwrap_or_default();
        json!({
            "monthly_active_users": stats.mau.get(month).copied().unwrap_or(0),
            "token_count_per_granttype": tokens,
        })
    };
    Ok(match format {
        Some("openmetrics") => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            openmetrics(&key, &stats),
        )
            .into_response(),
        Some("jsonmonth") => {
            let map: Map<String, Value> = key.iter().map(|m| (m.clone(), entry(m))).collect();
            Json(json!({ "response": map })).into_response()
        }
        _ => {
            let list: Vec<Value> = key
                .iter()
                .map(|m| {
                    let mut e = entry(m);
                    e["month"] = json!(m);
                    e
                })
                .collect();
            Json(json!({ "response": list })).into_response()
        }
    })
}

fn openmetrics(months: &[String], stats: &MonthStats) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE monthly_active_users gauge\n# HELP monthly_active_users Monthly active users (HyperLogLog estimate)");
    for m in months {
        let _ = writeln!(
            out,
            "monthly_active_users{{month=\"{m}\"}} {}",
            stats.mau.get(m).copied().unwrap_or(0)
        );
    }
    // One family per token type: access_token{month, grantType} ...
    let mut families: BTreeMap<&str, Vec<(&str, &str, u64)>> = BTreeMap::new();
    for m in months {
        if let Some(grants) = stats.tokens.get(m) {
            for (grant, types) in grants {
                for (token_type, n) in types {
                    families.entry(token_type).or_default().push((m, grant, *n));
                }
            }
        }
    }
    for (family, samples) in families {
        let _ = writeln!(
            out,
            "# TYPE {family} gauge\n# HELP {family} Tokens issued per month and grant type"
        );
        for (m, grant, n) in samples {
            let _ = writeln!(
                out,
                "{family}{{month=\"{m}\",grantType=\"{}\"}} {n}",
                escape_label(grant)
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn invalid(msg: String) -> ApiError {
    ApiError::OAuth {
        error: "invalid_request",
        description: msg,
    }
}

/// `month` (space-separated yyyyMM list) xor `start-month`/`end-month`.
fn months(q: &HashMap<String, String>) -> Result<Vec<(i32, u32)>> {
    let get = |k: &str| q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let (list, start, end) = (get("month"), get("start-month"), get("end-month"));
    let mut months = match (list, start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(invalid(
                "month and start-month/end-month cannot be used together".into(),
            ))
        }
        (None, None, None) => {
            return Err(invalid(
                "month or start-month and end-month is required".into(),
            ))
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(invalid(
                "start-month and end-month must be given together".into(),
            ))
        }
        (Some(list), None, None) => list
            .split(|c: char| c.is_whitespace() || c == '+' || c == ',')
            .filter(|s| !s.is_empty())
            .map(parse_month)
            .collect::<Result<Vec<_>>>()?,
        (None, Some(s), Some(e)) => {
            let (s, e) = (parse_month(s)?, parse_month(e)?);
            if e < s {
                return Err(invalid("end-month is before start-month".into()));
            }
            let mut out = Vec::new();
            let mut cur = s;
            while cur <= e && out.len() <= MAX_MONTHS {
                out.push(cur);
                cur = if cur.1 == 12 {
                    (cur.0 + 1, 1)
                } else {
                    (cur.0, cur.1 + 1)
                };
            }
            out
        }
    };
    months.sort_unstable();
    months.dedup();
    if months.len() > MAX_MONTHS {
        return Err(invalid(format!("at most {MAX_MONTHS} months per request")));
    }
    Ok(months)
}

fn parse_month(s: &str) -> Result<(i32, u32)> {
    let bad = || invalid(format!("month {s:?} is not yyyyMM"));
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let y: i32 = s[..4].parse().map_err(|_| bad())?;
    let m: u32 = s[4..].parse().map_err(|_| bad())?;
    // ClickHouse DateTime ends in 2106: later months cannot hold data.
    if !(1..=12).contains(&m) || !(1970..=2105).contains(&y) {
        return Err(bad());
    }
    Ok((y, m))
}

/// `GET /jans-auth/sys/health-check`: running, and whether ClickHouse answers.
async fn health(State(state): State<AppState>) -> Response {
    let db = match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => "online",
        _ => "offline",
    };
    (
        StatusCode::OK,
        Json(json!({ "status": "running", "db_status": db })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A POST without a form body is Janssen's 400, not axum's plain 415.
    #[tokio::test]
    async fn post_without_a_form_is_a_json_400() {
        let auth = crate::Authenticator::with_api_keys(&["stat-key".to_string()]);
        let store = authpulse_store::Store::new(clickhouse::Client::default());
        let app = crate::router(crate::Config::new(auth), store);
        let request = |key: Option<&str>| {
            let mut r = axum::http::Request::post("/jans-auth/restv1/internal/stat");
            if let Some(k) = key {
                r = r.header("authorization", format!("Bearer {k}"));
            }
            r.body(axum::body::Body::from("month=202601")).unwrap()
        };
        let r = app
            .clone()
            .oneshot(request(Some("stat-key")))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "invalid_request");
        let r = app.oneshot(request(None)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn month_parameters() {
        assert_eq!(
            months(&q(&[("month", "202012 202101")])).unwrap(),
            vec![(2020, 12), (2021, 1)]
        );
        assert_eq!(
            months(&q(&[("start-month", "202111"), ("end-month", "202202")]))
                .unwrap()
                .len(),
            4
        );
        assert!(months(&q(&[])).is_err());
        assert!(months(&q(&[("month", "202101"), ("start-month", "202101")])).is_err());
        assert!(months(&q(&[("start-month", "202101")])).is_err());
        assert!(months(&q(&[("month", "2021-01")])).is_err());
        assert!(months(&q(&[("month", "202113")])).is_err());
        assert!(months(&q(&[("month", "210601")])).is_err());
        assert!(months(&q(&[("month", "210512")])).is_ok());
        assert!(months(&q(&[("start-month", "200001"), ("end-month", "203001")])).is_err());
    }
}
