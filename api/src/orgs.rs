//! SSO org analytics (`/api/organizations/:org_slug/analytics/...`): login
//! trends, logins by service and by provider (from the 15-minute login
//! rollup) and the most recent logins (raw `login_events`). Counts are of
//! successful logins. Any membership in the org (Owner, Admin, Member)
//! grants access; see docs/api.md.

use std::collections::HashMap;
use std::future::Future;

use authpulse_store::{versions, Grain, IntervalCount, OrgGroup, Range};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::overload::key;
use crate::AppState;

/// Default range: the 30 days before `end_date` (through today by default).
pub const DEFAULT_DAYS: i64 = 30;
/// Default and largest `limit` of recent logins.
pub const DEFAULT_RECENT: u32 = 10;
pub const MAX_RECENT: u32 = authpulse_store::MAX_RECENT_LOGINS;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/organizations/{org_slug}/analytics/login-trends",
            get(login_trends),
        )
        .route(
            "/api/organizations/{org_slug}/analytics/logins-by-service",
            get(by_service),
        )
        .route(
            "/api/organizations/{org_slug}/analytics/logins-by-provider",
            get(by_provider),
        )
        .route(
            "/api/organizations/{org_slug}/analytics/recent-logins",
            get(recent_logins),
        )
}

#[derive(Serialize)]
struct DateCount {
    date: String,
    count: u64,
}

#[derive(Serialize)]
struct ServiceCount {
    service_id: Uuid,
    service_name: String,
    count: u64,
}

#[derive(Serialize)]
struct ProviderCount {
    provider: String,
    count: u64,
}

#[derive(Serialize)]
struct RecentLogin {
    id: Uuid,
    user_id: Uuid,
    service_id: Uuid,
    provider: String,
    created_at: String,
}

/// What every org analytics request starts from: an authenticated caller
/// (401) who is a member of the org named by the slug (403), the query,
/// and the key under which identical concurrent requests share one answer.
struct OrgRequest {
    slug: String,
    q: HashMap<String, String>,
    key: String,
}

impl FromRequestParts<AppState> for OrgRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let Path(slug) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Invalid(e.body_text()))?;
        let Query(q) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::Invalid(e.body_text()))?;
        if auth.0.role_in(&slug).is_none() {
            return Err(ApiError::Forbidden);
        }
        Ok(OrgRequest {
            slug,
            q,
            key: key(&parts.uri),
        })
    }
}

impl OrgRequest {
    /// Runs `report` once for all identical concurrent requests (each
    /// store query in it takes a permit of the gate); with `tables`, the
    /// whole answer is kept until they change (api/src/cache.rs).
    async fn answer<F, Fut, R>(
        self,
        state: AppState,
        tables: Option<&'static [&'static str]>,
        report: F,
    ) -> Response
    where
        F: FnOnce(AppState, String, HashMap<String, String>) -> Fut,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let (gate, cache) = (state.gate.clone(), state.cache.clone());
        let key = self.key.clone();
        match tables {
            Some(tables) => {
                let run = || gate.share(self.key, report(state, self.slug, self.q));
                cache.answer(key, tables, run).await
            }
            None => gate.share(self.key, report(state, self.slug, self.q)).await,
        }
    }
}

/// The id of the org that owns `slug` (first claim wins, see
/// `authpulse_store::owner_of`); 404 when no org owns it.
async fn org(state: &AppState, slug: &str) -> Result<Uuid> {
    if let Some(org) = state.slugs.get(slug) {
        return Ok(org);
    }
    let org = {
        // Callers may hold no permit (Gate::share): take one to query.
        let _permit = state.gate.admit().await?;
        state.store.org_by_slug(slug).await?
    }
    .ok_or(ApiError::NotFound)?;
    state.slugs.put(slug, org);
    Ok(org)
}

/// Organization ids of slugs seen lately. Resolving the slug was a
/// ClickHouse round trip of its own before every org analytics query
/// (a third to half of such a request at 100 M events). A slug's owner
/// never changes once it has one (first claim wins), so a found slug is
/// kept for `SLUG_TTL`; an unknown one is not kept, so an org's first
/// events make its slug known at once.
pub struct SlugCache(moka::sync::Cache<String, Uuid>);

const SLUG_TTL: std::time::Duration = std::time::Duration::from_secs(60);
const SLUG_CAPACITY: u64 = 10_000;

impl Default for SlugCache {
    fn default() -> SlugCache {
        SlugCache(
            moka::sync::Cache::builder()
                .max_capacity(SLUG_CAPACITY)
                .time_to_live(SLUG_TTL)
                .build(),
        )
    }
}

impl SlugCache {
    fn get(&self, slug: &str) -> Option<Uuid> {
        self.0.get(slug)
    }

    fn put(&self, slug: &str, org: Uuid) {
        self.0.insert(slug.to_string(), org);
    }
}

fn date(q: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let valid = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
            valid
                .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .flatten()
                // Any calendar date is valid (OpenAPI `format: date`); days
                // outside what is stored are clamped to the stored era.
                .map(|d| Some(d.clamp(FIRST_DAY, LAST_DAY)))
                .ok_or_else(|| {
                    ApiError::Invalid(format!("{name} must be a date in YYYY-MM-DD format"))
                })
        }
    }
}

/// The days a date parameter is clamped to: ClickHouse `DateTime` ends
/// early in 2106.
const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
const LAST_DAY: NaiveDate = NaiveDate::from_ymd_opt(2105, 12, 31).unwrap();

/// `start_date..=end_date` (UTC days); default the last 30 days through
/// today; a missing start is 30 days before the end.
fn range(q: &HashMap<String, String>) -> Result<(NaiveDate, NaiveDate)> {
    let start = date(q, "start_date")?;
    let end = date(q, "end_date")?;
    let end = end.unwrap_or_else(|| Utc::now().date_naive().min(LAST_DAY));
    let start = start.unwrap_or((end - Duration::days(DEFAULT_DAYS)).max(FIRST_DAY));
    if end < start {
        return Err(ApiError::Invalid(
            "end_date must not be before start_date".into(),
        ));
    }
    Ok((start, end))
}

/// `limit`: default 10, clamped to 1..=100; any integer is accepted
/// (huge or negative ones are clamped), anything else is a 400.
fn limit(q: &HashMap<String, String>) -> Result<u32> {
    let Some(s) = q.get("limit").map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_RECENT);
    };
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Invalid("limit must be an integer".into()));
    }
    if negative {
        return Ok(1);
    }
    let n = digits.parse::<u64>().unwrap_or(u64::MAX);
    Ok(n.clamp(1, u64::from(MAX_RECENT)) as u32)
}

async fn login_trends(State(state): State<AppState>, r: OrgRequest) -> Response {
    r.answer(state, None, trends).await
}

async fn trends(
    state: AppState,
    slug: String,
    q: HashMap<String, String>,
) -> Result<Json<Vec<DateCount>>> {
    let org = org(&state, &slug).await?;
    let (from, to) = range(&q)?;
    // Per UTC day through the interval cache: day numbers since the epoch.
    let days = utc_days(from, to);
    let (store, gate) = (state.store.clone(), state.gate.clone());
    let counts = state
        .cache
        .intervals(
            &("org login days", org),
            days,
            Grain::Day,
            versions::ORG_LOGIN_DAYS,
            |r| {
                let (store, gate) = (store.clone(), gate.clone());
                async move {
                    let last = r.to.date_naive() - Duration::days(1);
                    let _permit = gate.admit().await?;
                    let rows = store.org_login_days(org, r.from.date_naive(), last).await?;
                    Ok::<_, ApiError>(
                        rows.into_iter()
                            .filter_map(|d| {
                                let day = NaiveDate::parse_from_str(&d.date, "%Y-%m-%d").ok()?;
                                Some(IntervalCount {
                                    interval: (day - NaiveDate::default()).num_days(),
                                    count: d.count,
                                })
                            })
                            .collect(),
                    )
                }
            },
        )
        .await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|c| DateCount {
                date: (NaiveDate::default() + Duration::days(c.interval)).to_string(),
                count: c.count,
            })
            .collect(),
    ))
}

async fn by_service(State(state): State<AppState>, r: OrgRequest) -> Response {
    r.answer(state, None, services).await
}

async fn services(
    state: AppState,
    slug: String,
    q: HashMap<String, String>,
) -> Result<Json<Vec<ServiceCount>>> {
    let org = org(&state, &slug).await?;
    let (from, to) = range(&q)?;
    let counts = day_groups(&state, org, OrgGroup::Service, from, to).await?;
    let (store, gate) = (state.store.clone(), state.gate.clone());
    let names = state
        .cache
        .value(
            format!("application names|{org}"),
            versions::ORG_ANALYTICS,
            || async move {
                let _permit = gate.admit().await?;
                Ok::<_, ApiError>(store.application_names(org).await?)
            },
        )
        .await?;
    Ok(Json(
        counts
            .into_iter()
            .filter_map(|(id, count)| {
                let service_id = Uuid::parse_str(&id).ok()?;
                let service_name = names
                    .iter()
                    .find(|n| n.id == service_id)
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                Some(ServiceCount {
                    service_id,
                    service_name,
                    count,
                })
            })
            .collect(),
    ))
}

async fn by_provider(State(state): State<AppState>, r: OrgRequest) -> Response {
    r.answer(state, None, providers).await
}

async fn providers(
    state: AppState,
    slug: String,
    q: HashMap<String, String>,
) -> Result<Json<Vec<ProviderCount>>> {
    let org = org(&state, &slug).await?;
    let (from, to) = range(&q)?;
    let counts = day_groups(&state, org, OrgGroup::Provider, from, to).await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(provider, count)| ProviderCount { provider, count })
            .collect(),
    ))
}

/// UTC days `from..=to` as a report range.
fn utc_days(from: NaiveDate, to: NaiveDate) -> Range {
    Range {
        tz: chrono_tz::Tz::UTC,
        from: from.and_time(NaiveTime::MIN).and_utc(),
        to: (to + Duration::days(1)).and_time(NaiveTime::MIN).and_utc(),
    }
}

/// Logins of `org` per application or provider over UTC days
/// `from..=to`, each day cached apart (api/src/cache.rs): most logins
/// first, ties by group.
async fn day_groups(
    state: &AppState,
    org: Uuid,
    group: OrgGroup,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, u64)>> {
    let (store, gate) = (state.store.clone(), state.gate.clone());
    let sums = state
        .cache
        .grouped(
            &("org login days by", group, org),
            utc_days(from, to),
            Grain::Day,
            versions::ORG_LOGIN_DAYS,
            |r| {
                let (store, gate) = (store.clone(), gate.clone());
                async move {
                    let last = r.to.date_naive() - Duration::days(1);
                    let _permit = gate.admit().await?;
                    let rows = store
                        .org_login_days_by(org, group, r.from.date_naive(), last)
                        .await?;
                    Ok::<_, ApiError>(
                        rows.into_iter()
                            .map(|d| (d.day, d.label, d.count))
                            .collect(),
                    )
                }
            },
        )
        .await?;
    let mut out: Vec<(String, u64)> = sums.into_iter().filter(|(_, c)| *c > 0).collect();
    out.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

async fn recent_logins(State(state): State<AppState>, r: OrgRequest) -> Response {
    r.answer(state, None, recent).await
}

/// Limits up to this share one cached list of this many logins, sliced:
/// the order is total (time, then id), so the first n of a longer list are
/// the n newest.
const RECENT_SHARED: u32 = 50;

async fn recent(
    state: AppState,
    slug: String,
    q: HashMap<String, String>,
) -> Result<Json<Vec<RecentLogin>>> {
    let org = org(&state, &slug).await?;
    let limit = limit(&q)?;
    // Without dates: the newest logins of all time (the product's
    // endpoint); with either date, the same range as the other endpoints.
    let dated = ["start_date", "end_date"]
        .iter()
        .any(|k| q.get(*k).is_some_and(|v| !v.trim().is_empty()));
    let days = if dated { Some(range(&q)?) } else { None };
    let fetch = limit.max(RECENT_SHARED.min(MAX_RECENT));
    let (gate, store) = (&state.gate, &state.store);
    let rows = state
        .cache
        .value(
            format!("recent logins|{org}|{days:?}|{fetch}"),
            versions::RECENT_LOGINS,
            || gate.admitted(store.recent_logins(org, fetch, days)),
        )
        .await?;
    Ok(Json(
        rows.iter()
            .take(limit as usize)
            .map(|r| RecentLogin {
                id: r.id,
                user_id: r.user_id,
                service_id: r.service_id,
                provider: r.provider.clone(),
                created_at: iso_millis(r.created_at_ms),
            })
            .collect(),
    ))
}

/// `2025-01-15T14:32:18.123Z`
pub(crate) fn iso_millis(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_clamp() {
        assert_eq!(limit(&q(&[])).unwrap(), 10);
        assert_eq!(limit(&q(&[("limit", "0")])).unwrap(), 1);
        assert_eq!(limit(&q(&[("limit", "-7")])).unwrap(), 1);
        assert_eq!(limit(&q(&[("limit", "50")])).unwrap(), 50);
        assert_eq!(
            limit(&q(&[("limit", "99999999999999999999999999")])).unwrap(),
            100
        );
        assert!(limit(&q(&[("limit", "ten")])).is_err());
        assert!(limit(&q(&[("limit", "1.5")])).is_err());
    }

    #[test]
    fn dates() {
        let (a, b) = range(&q(&[
            ("start_date", "2025-01-01"),
            ("end_date", "2025-01-31"),
        ]))
        .unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2025-01-01".into(), "2025-01-31".into())
        );
        let (a, b) = range(&q(&[("end_date", "2025-01-31")])).unwrap();
        assert_eq!((b - a).num_days(), 30);
        for bad in [
            "2025-1-01",
            "2025-02-30",
            "yesterday",
            "20250101",
            "2025-01-01T00:00:00Z",
        ] {
            assert!(range(&q(&[("start_date", bad)])).is_err(), "{bad}");
        }
        assert!(range(&q(&[
            ("start_date", "2025-02-01"),
            ("end_date", "2025-01-31")
        ]))
        .is_err());
        assert_eq!(iso_millis(1_736_951_538_000), "2025-01-15T14:32:18.000Z");
        // Any calendar date is accepted; outside the stored era it clamps.
        let (a, b) = range(&q(&[
            ("start_date", "0001-01-01"),
            ("end_date", "9999-12-31"),
        ]))
        .unwrap();
        assert_eq!((a, b), (FIRST_DAY, LAST_DAY));
    }
}
