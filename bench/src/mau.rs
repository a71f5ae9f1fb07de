//! Distinct-user accuracy: N distinct users active in one month (1–3
//! successful logins each, spread over the month), loaded as raw rows; the
//! monthly and daily active users from the Store (merged sketch states)
//! against the oracle's exact counts.

use std::time::{Duration, Instant};

use authpulse_loadgen::Oracle;
use authpulse_schemas::{Body, Event, Login, Org};
use authpulse_store::{Grain, Range, Store};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::latency::load;
use super::Ctx;

pub struct MauResult {
    pub month: String,
    pub users: u64,
    pub rows: u64,
    pub exact: u64,
    pub raw_exact: u64,
    pub estimate: u64,
    pub error: f64,
    pub days: usize,
    pub dau_max_error: f64,
    pub query_ms: f64,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The previous calendar month (inside every table's TTL).
fn month() -> (i32, u32, DateTime<Utc>, i64) {
    let today = Utc::now().date_naive();
    let (y, m) = if today.month() == 1 {
        (today.year() - 1, 12)
    } else {
        (today.year(), today.month() - 1)
    };
    let first = NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
    let next = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).expect("valid month");
    let start = Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).expect("midnight"));
    let len_ms = (next - first).num_milliseconds();
    (y, m, start, len_ms)
}

fn events(users: u64, start: DateTime<Utc>, len_ms: i64) -> impl Iterator<Item = Event> {
    let orgs: Vec<Org> = (0..4u128)
        .map(|o| Org {
            id: Uuid::from_u128(0xBE4A_0000 + o),
            slug: format!("mau{o}"),
        })
        .collect();
    (0..users).flat_map(move |i| {
        let h = mix(i);
        let user = Uuid::from_u64_pair(mix(h), mix(h ^ 0x5555));
        let org = orgs[(i % 4) as usize].clone();
        let app = Uuid::from_u128(0xBE4A_1000 + (i % 8) as u128);
        (0..1 + i % 3).map(move |k| {
            let at = (mix(h.wrapping_add(k)) % len_ms as u64) as i64;
            Event {
                id: Uuid::from_u64_pair(h, k),
                occurred_at: start + chrono::Duration::milliseconds(at),
                org: org.clone(),
                body: Body::Login(Login {
                    success: true,
                    failure_reason: None,
                    user_id: Some(user),
                    login_id: format!("u{i}@mau.example"),
                    application_id: app,
                    application_name: None,
                    provider: "password".into(),
                    ip: None,
                    user_agent: None,
                    session_id: None,
                }),
            }
        })
    })
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<MauResult> {
    let db = "bench_mau";
    ctx.fresh_db(db).await?;
    let (y, m, start, len_ms) = month();
    let users = ctx.args.mau_users;
    let mut oracle = Oracle::new();
    for e in events(users, start, len_ms) {
        oracle.observe_event(&e);
    }
    let rows = load(ctx, db, events(users, start, len_ms)).await?;
    ctx.ch.wait_idle(Duration::from_secs(120)).await?;
    ctx.refresh_views(db).await?;
    let raw_exact: u64 = ctx
        .ch
        .count(&format!(
            "SELECT uniqExact(user_id) FROM `{db}`.login_events WHERE success"
        ))
        .await?;
    let store = Store::new(ctx.ch_client().with_database(db));
    let range = Range::months(Tz::UTC, (y, m), (y, m))?;
    let t = Instant::now();
    let monthly = store.active_users(range, Grain::Month, &[]).await?;
    let query_ms = t.elapsed().as_secs_f64() * 1000.0;
    let estimate = monthly.iter().map(|c| c.count).sum::<u64>();
    let exact = oracle.mau(Tz::UTC, &[]).values().sum::<u64>();
    let daily = store.active_users(range, Grain::Day, &[]).await?;
    let truth = oracle.dau(Tz::UTC, &[]);
    let mut dau_max_error: f64 = 0.0;
    for d in &daily {
        if let Some(&t) = truth.get(&d.interval) {
            dau_max_error = dau_max_error.max((d.count as f64 - t as f64).abs() / t.max(1) as f64);
        }
    }
    ctx.drop_db(db).await;
    Ok(MauResult {
        month: format!("{y:04}-{m:02}"),
        users,
        rows,
        exact,
        raw_exact,
        estimate,
        error: (estimate as f64 - exact as f64).abs() / exact.max(1) as f64,
        days: daily.len(),
        dau_max_error,
        query_ms,
    })
}
