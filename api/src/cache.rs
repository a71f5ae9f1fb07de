//! Report answers kept until the tables they were read from change.
//!
//! Every `poll` the cache reads a fingerprint of each watched table's active
//! parts (`authpulse_store::versions`). An answer is stored with the
//! fingerprint of its tables as read *before* its queries ran, and served
//! only while that is still the current fingerprint: data that changed
//! before or while the query ran changes the fingerprint at the next poll,
//! and the answer is dropped. So an answer is never older than the data by
//! more than one poll (100 ms by default) plus the poll's own query. A poll
//! that hangs counts as failed: what it last read stops being served
//! `STALE_AFTER_POLLS` polls (at least a second) after it was read. Any
//! writer counts (ingest, direct inserts, deletes, TTL drops, snapshot
//! refreshes); a merge costs a recomputation, not correctness. Until the
//! first poll, after a failed poll, or for a table that is not a MergeTree
//! (a Distributed table's parts are elsewhere), nothing is served from the
//! cache.
//!
//! Two kinds of entries:
//! - whole answers (totals, org logins by service / provider, recent
//!   logins, audit pages, history pages), keyed by path and query string
//!   (and today's date, which defaults of some ranges depend on);
//! - per-interval counts of the range reports (logins, registrations,
//!   daily / monthly active users, org login trends): a range takes its
//!   intervals from the cache and queries only the ones missing, so
//!   overlapping ranges share work. The current interval is cached like
//!   the others: its count changes only with its tables, which the next
//!   poll sees (a fresh event waits for at most one poll). A miss inside
//!   the recent span (`warm_span`) of a cold filter (less than half of
//!   its span kept) fetches that whole span for its report and filter in
//!   one query, and concurrent misses of one filter wait for
//!   that query rather than each sending their own: a cold filter costs
//!   one query, not one per range asked. An interval over a
//!   table whose rows count only from their partition key's time
//!   (`versions::BY_TIME`) is kept under the fingerprint of the parts that
//!   can hold rows before its end, so an insert of current events drops
//!   the current intervals, not the closed ones; a late event drops those
//!   from its own time on.

use std::any::Any;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use authpulse_store::{interval, next, truncate, Grain, IntervalCount, Range, Store};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::overload::{shareable, Shareable};

/// Cache settings (`authpulse api --report-cache-poll-ms ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How often table fingerprints are read; zero turns the cache off.
    pub poll: Duration,
    /// Memory the cache may hold, in bytes (approximate: answer bodies and
    /// keys, a fixed size per interval count and typed value).
    pub max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            poll: Duration::from_millis(100),
            max_bytes: 256 << 20,
        }
    }
}

/// Weight of an entry beyond its key and body (moka's own bookkeeping).
const ENTRY_OVERHEAD: usize = 96;
/// Weight of a typed value (Janssen month statistics: a few maps).
const VALUE_WEIGHT: u32 = 2048;

fn weight(bytes: usize) -> u32 {
    u32::try_from(bytes + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
}

/// Ranges of more intervals than this bypass the interval cache.
const MAX_SLOTS: usize = 10_000;
/// More separate gaps than this are queried as one range.
const MAX_RUNS: usize = 4;

/// The recent span a miss fetches whole, ending with the current
/// interval: about what report readers look at (dashboards' last
/// quarter, the last year by day, three years by month), few enough
/// intervals that one query over a filter's rollup rows stays cheap.
fn warm_span(grain: Grain) -> chrono::Duration {
    match grain {
        Grain::Hour => chrono::Duration::days(120),
        Grain::Day => chrono::Duration::days(400),
        Grain::Month => chrono::Duration::days(3 * 366),
    }
}

/// Parts per watched table; `None`: not a MergeTree.
type Versions = HashMap<String, Option<Parts>>;

/// One table's active parts as a poll read them: groups by the earliest
/// time their parts can hold (`authpulse_store::versions`), in that order,
/// and a fingerprint of every group up to each.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    lower: Vec<i64>,
    upto: Vec<u64>,
}

impl Parts {
    fn new(mut groups: Vec<(i64, u64)>) -> Parts {
        groups.sort_unstable();
        let mut h = 0u64;
        let upto = groups
            .iter()
            .map(|g| {
                let mut hasher = DefaultHasher::new();
                (h, g).hash(&mut hasher);
                h = hasher.finish();
                h
            })
            .collect();
        Parts {
            lower: groups.iter().map(|(l, _)| *l).collect(),
            upto,
        }
    }

    /// Of every part.
    fn whole(&self) -> u64 {
        self.upto.last().copied().unwrap_or(0)
    }

    /// Of the parts that can hold rows before `t` (epoch seconds).
    fn before(&self, t: i64) -> u64 {
        match self.lower.partition_point(|l| *l < t) {
            0 => 0,
            k => self.upto[k - 1],
        }
    }
}

/// Fingerprints this many polls old (and at least `MIN_STALE`) are no
/// longer trusted, and a poll that takes this long is abandoned.
const STALE_AFTER_POLLS: u32 = 10;
const MIN_STALE: Duration = Duration::from_secs(1);

fn stale_after(poll: Duration) -> Duration {
    (poll * STALE_AFTER_POLLS).max(MIN_STALE)
}

pub struct ReportCache {
    on: bool,
    stale_after: Duration,
    /// The last fingerprints read, and when their poll began.
    versions: RwLock<Option<(Instant, Arc<Versions>)>>,
    /// Bumped by `forget`: a poll that began before it must not restore
    /// what it read.
    epoch: AtomicU64,
    answers: moka::sync::Cache<String, (u64, Shareable)>,
    values: moka::sync::Cache<String, (u64, Arc<dyn Any + Send + Sync>)>,
    slots: moka::sync::Cache<(u64, i64), (u64, Slotted)>,
    /// One lock per key (answer, value or range filter): its misses run
    /// one at a time, so concurrent misses of a key wait for the first
    /// one's query and then read what it kept.
    turns: moka::sync::Cache<u64, Arc<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for ReportCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportCache").field("on", &self.on).finish()
    }
}

impl ReportCache {
    /// A cache polling `store` every `settings.poll` (from a task that
    /// ends when the cache is dropped); off when the poll is zero.
    pub fn start(settings: Settings, store: Store) -> Arc<ReportCache> {
        let on = !settings.poll.is_zero() && settings.max_bytes > 0;
        let mut cache = ReportCache::new(on, settings.max_bytes);
        cache.stale_after = stale_after(settings.poll);
        let cache = Arc::new(cache);
        if on {
            tokio::spawn(poll(Arc::downgrade(&cache), store, settings.poll));
        }
        cache
    }

    /// The maps, sharing `max_bytes`: half for whole answers, three
    /// eighths for interval counts, an eighth for typed values.
    fn new(on: bool, max_bytes: u64) -> ReportCache {
        ReportCache {
            on,
            stale_after: stale_after(Settings::default().poll),
            versions: RwLock::new(None),
            epoch: AtomicU64::new(0),
            answers: moka::sync::Cache::builder()
                .max_capacity(max_bytes / 2)
                .weigher(|k: &String, (_, a): &(u64, Shareable)| weight(k.len() + a.len()))
                .build(),
            slots: moka::sync::Cache::builder()
                .max_capacity(max_bytes / 8 * 3)
                .weigher(|_, (_, v): &(u64, Slotted)| weight(16 + v.weight()))
                .build(),
            values: moka::sync::Cache::builder()
                .max_capacity(max_bytes / 8)
                .weigher(|k: &String, _| weight(k.len()) + VALUE_WEIGHT)
                .build(),
            turns: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// Whether the cache is on at all (it may still be bypassed for a
    /// while: not polled yet, a failed poll).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Serves nothing from the cache until the next poll (after a write
    /// this server made itself).
    pub fn forget(&self) {
        let mut v = self.versions.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        *v = None;
    }

    /// Stores what a poll that began at `at` read, unless `forget` ran
    /// since it began.
    fn set_versions(&self, v: Option<Versions>, at: Instant, epoch: u64) {
        let mut current = self.versions.write().unwrap_or_else(|e| e.into_inner());
        let v = v.filter(|_| self.epoch.load(Ordering::SeqCst) == epoch);
        // Which tables drop cached answers, and how often.
        if let (Some((_, old)), Some(new)) = (current.as_ref(), v.as_ref()) {
            for (table, f) in new {
                if old.get(table).is_some_and(|o| o != f) {
                    metrics::counter!("authpulse_api_report_cache_table_changes_total", "table" => table.clone())
                        .increment(1);
                }
            }
        }
        *current = v.map(|v| (at, Arc::new(v)));
    }

    /// The combined fingerprint of `tables` now, or `None` when answers
    /// over them can't be cached (off, not polled yet, last poll failed
    /// or too long ago,
    /// or a table that isn't a MergeTree).
    fn version(&self, tables: &[&str]) -> Option<u64> {
        let versions = self.current(tables)?;
        let mut h = DefaultHasher::new();
        for t in tables {
            // A missing table hashes as absent: its queries fail anyway.
            (
                t,
                versions.get(*t).and_then(Option::as_ref).map(Parts::whole),
            )
                .hash(&mut h);
        }
        Some(h.finish())
    }

    /// The fingerprints last read, when they may be used for `tables`.
    fn current(&self, tables: &[&str]) -> Option<Arc<Versions>> {
        if !self.on {
            return None;
        }
        let (at, versions) = self
            .versions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let usable = at.elapsed() <= self.stale_after
            && tables
                .iter()
                .all(|t| !matches!(versions.get(*t), Some(None)));
        usable.then_some(versions)
    }

    /// The fingerprint each of `slots` is kept under: over a `BY_TIME`
    /// table, of the parts that can hold rows before the slot ends; over
    /// any other, of all its parts.
    fn slot_versions(&self, tables: &[&str], slots: &[Slot]) -> Option<Vec<u64>> {
        let versions = self.current(tables)?;
        let parts: Vec<(&str, Option<&Parts>, bool)> = tables
            .iter()
            .map(|t| {
                let p = versions.get(*t).and_then(Option::as_ref);
                (*t, p, authpulse_store::versions::BY_TIME.contains(t))
            })
            .collect();
        Some(
            slots
                .iter()
                .map(|s| {
                    let mut h = DefaultHasher::new();
                    for (t, p, by_time) in &parts {
                        let v = p.map(|p| match by_time {
                            true => p.before(s.end.timestamp()),
                            false => p.whole(),
                        });
                        (t, v).hash(&mut h);
                    }
                    h.finish()
                })
                .collect(),
        )
    }

    /// The answer of `run` for `key`, from the cache while `tables` are
    /// unchanged. Only 200 answers are kept.
    pub async fn answer<F, Fut>(&self, key: String, tables: &[&str], run: F) -> Response
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Response>,
    {
        let Some(version) = self.version(tables) else {
            count("answer", "off");
            return run().await;
        };
        let key = format!("{}|{key}", Utc::now().date_naive());
        let kept = |version| {
            self.answers
                .get(&key)
                .filter(|(v, _)| *v == version)
                .map(|(_, a)| a.into_response())
        };
        if let Some(answer) = kept(version) {
            count("answer", "hit");
            return answer;
        }
        count("answer", "miss");
        let _turn = self.turn(&("answer", &key)).await;
        let version = self.version(tables).unwrap_or(version);
        if let Some(answer) = kept(version) {
            return answer;
        }
        let answer = shareable(run().await).await;
        if answer.status == axum::http::StatusCode::OK {
            self.answers.insert(key, (version, answer.clone()));
        }
        answer.into_response()
    }

    /// The value `run` computes for `key`, from the cache while `tables`
    /// are unchanged (for answers assembled from a typed result).
    pub async fn value<T, E, F, Fut>(
        &self,
        key: String,
        tables: &[&str],
        run: F,
    ) -> Result<Arc<T>, E>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(version) = self.version(tables) else {
            count("value", "off");
            return run().await.map(Arc::new);
        };
        let key = format!("{}|{key}", Utc::now().date_naive());
        let kept = |version| {
            self.values
                .get(&key)
                .filter(|(v, _)| *v == version)
                .and_then(|(_, value)| value.downcast::<T>().ok())
        };
        if let Some(value) = kept(version) {
            count("value", "hit");
            return Ok(value);
        }
        count("value", "miss");
        let _turn = self.turn(&("value", &key)).await;
        let version = self.version(tables).unwrap_or(version);
        if let Some(value) = kept(version) {
            return Ok(value);
        }
        let value = Arc::new(run().await?);
        self.values.insert(key, (version, value.clone()));
        Ok(value)
    }

    /// Counts per interval of `range` (`grain` in the range's timezone):
    /// cached intervals from the cache, the rest from `fetch` over the
    /// sub-ranges that lack them. `key` names the report and its filter.
    pub async fn intervals<E, F, Fut>(
        &self,
        key: &impl Hash,
        range: Range,
        grain: Grain,
        tables: &[&str],
        fetch: F,
    ) -> Result<Vec<IntervalCount>, E>
    where
        F: Fn(Range) -> Fut,
        Fut: Future<Output = Result<Vec<IntervalCount>, E>>,
    {
        let per_slot = self
            .per_slot(key, range, grain, tables, |r| {
                let rows = fetch(r);
                async move {
                    Ok(rows
                        .await?
                        .into_iter()
                        .map(|c| (c.interval, Slotted::Count(Some(c.count))))
                        .collect())
                }
            })
            .await?;
        Ok(per_slot
            .into_iter()
            .filter_map(|(interval, v)| match v {
                Slotted::Count(Some(count)) => Some(IntervalCount { interval, count }),
                _ => None,
            })
            .collect())
    }

    /// Counts per group (a provider, an application) summed over the
    /// intervals of `range`, each interval's groups cached as the counts
    /// of [`ReportCache::intervals`] are. `fetch` returns (interval,
    /// group, count) rows.
    pub async fn grouped<E, F, Fut>(
        &self,
        key: &impl Hash,
        range: Range,
        grain: Grain,
        tables: &[&str],
        fetch: F,
    ) -> Result<HashMap<String, u64>, E>
    where
        F: Fn(Range) -> Fut,
        Fut: Future<Output = Result<Vec<(i64, String, u64)>, E>>,
    {
        let per_slot = self
            .per_slot(key, range, grain, tables, |r| {
                let rows = fetch(r);
                async move {
                    let mut by: HashMap<i64, Vec<(String, u64)>> = HashMap::new();
                    for (n, group, count) in rows.await? {
                        by.entry(n).or_default().push((group, count));
                    }
                    Ok(by
                        .into_iter()
                        .map(|(n, g)| (n, Slotted::Groups(g.into())))
                        .collect())
                }
            })
            .await?;
        let mut sums: HashMap<String, u64> = HashMap::new();
        for (_, v) in per_slot {
            if let Slotted::Groups(groups) = v {
                for (g, c) in groups.iter() {
                    *sums.entry(g.clone()).or_default() += c;
                }
            }
        }
        Ok(sums)
    }

    /// The value of every interval of `range`: from the cache where it
    /// holds one for the current version, the rest from `fetch` (per
    /// interval number; an interval it doesn't return is empty). On a miss
    /// the key's recent span is fetched with it (see the module notes).
    async fn per_slot<E, F, Fut>(
        &self,
        key: &impl Hash,
        range: Range,
        grain: Grain,
        tables: &[&str],
        fetch: F,
    ) -> Result<Vec<(i64, Slotted)>, E>
    where
        F: Fn(Range) -> Fut,
        Fut: Future<Output = Result<HashMap<i64, Slotted>, E>>,
    {
        let Some((versions, slots)) =
            slots(range, grain).and_then(|s| Some((self.slot_versions(tables, &s)?, s)))
        else {
            count("interval", "off");
            let mut all: Vec<(i64, Slotted)> = fetch(range).await?.into_iter().collect();
            all.sort_unstable_by_key(|(n, _)| *n);
            return Ok(all);
        };
        let key = {
            let mut h = DefaultHasher::new();
            key.hash(&mut h);
            range.tz.name().hash(&mut h);
            h.finish()
        };
        let mut known = self.known(key, &versions, &slots);
        let missed = slots
            .iter()
            .zip(&known)
            .any(|(s, k)| s.cache && k.is_none());
        count("interval", if missed { "miss" } else { "hit" });
        if !missed {
            return Ok(fill(&slots, known));
        }
        let _turn = self.turn(&key).await;
        // What the misses before this one (or a newer poll) brought.
        let versions = self.slot_versions(tables, &slots).unwrap_or(versions);
        known = self.known(key, &versions, &slots);
        if gaps(&known).is_empty() {
            return Ok(fill(&slots, known));
        }
        // The recent span is fetched with the range when they meet and the
        // filter is cold (less than half of its span kept), and kept; what
        // the range needs is then read from what was kept. A warm filter
        // fetches only the range's own gaps: an insert at some past time
        // drops every interval from that time on, and re-reading all of
        // them on each insert would put a long query before every fresh
        // answer.
        let warm = warm_hull(range, grain, Utc::now())
            .and_then(|r| self::slots(r, grain))
            .and_then(|w| Some((self.slot_versions(tables, &w)?, w)))
            .map(|(wv, w)| {
                let wk = self.known(key, &wv, &w);
                (wv, w, wk)
            })
            .filter(|(_, _, wk)| wk.iter().filter(|k| k.is_some()).count() * 2 < wk.len());
        if let Some((wv, warm, mut wk)) = warm {
            self.fetch_gaps(key, &wv, range, &warm, &mut wk, &fetch)
                .await?;
            let by_n: HashMap<i64, Slotted> = warm
                .iter()
                .zip(wk)
                .filter_map(|(s, v)| Some((s.n, v?)))
                .collect();
            // (An interval only partly in the range is not the warm one.)
            for (s, k) in slots.iter().zip(known.iter_mut()) {
                if k.is_none() && s.cache {
                    *k = by_n.get(&s.n).cloned();
                }
            }
        }
        self.fetch_gaps(key, &versions, range, &slots, &mut known, &fetch)
            .await?;
        Ok(fill(&slots, known))
    }

    /// The lock of `key`'s misses, held until the guard drops. A miss
    /// that took it looks again (under a version read again: still one
    /// read before its own query) before running its query.
    async fn turn(&self, key: &impl Hash) -> tokio::sync::OwnedMutexGuard<()> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        self.turns
            .get_with(h.finish(), Default::default)
            .lock_owned()
            .await
    }

    /// The cached value of each of `slots` kept under its version.
    fn known(&self, key: u64, versions: &[u64], slots: &[Slot]) -> Vec<Option<Slotted>> {
        slots
            .iter()
            .zip(versions)
            .map(|(s, version)| {
                s.cache
                    .then(|| self.slots.get(&(key, s.n)))
                    .flatten()
                    .filter(|(v, _)| v == version)
                    .map(|(_, c)| c)
            })
            .collect()
    }

    /// Fetches the runs of `slots` that `known` lacks (more than
    /// `MAX_RUNS` as one range), caches them and fills `known` in.
    async fn fetch_gaps<E, F, Fut>(
        &self,
        key: u64,
        versions: &[u64],
        range: Range,
        slots: &[Slot],
        known: &mut [Option<Slotted>],
        fetch: &F,
    ) -> Result<(), E>
    where
        F: Fn(Range) -> Fut,
        Fut: Future<Output = Result<HashMap<i64, Slotted>, E>>,
    {
        let mut runs = gaps(known);
        if runs.len() > MAX_RUNS {
            runs = vec![(runs[0].0, runs[runs.len() - 1].1)];
        }
        for (a, b) in runs {
            let sub = Range {
                tz: range.tz,
                from: slots[a].start,
                to: slots[b].end,
            };
            let mut rows = fetch(sub).await?;
            for i in a..=b {
                let v = rows.remove(&slots[i].n).unwrap_or(Slotted::Empty);
                if slots[i].cache {
                    self.slots
                        .insert((key, slots[i].n), (versions[i], v.clone()));
                }
                known[i] = Some(v);
            }
        }
        Ok(())
    }
}

/// Every slot's value, in order (unknown as empty).
fn fill(slots: &[Slot], known: Vec<Option<Slotted>>) -> Vec<(i64, Slotted)> {
    slots
        .iter()
        .zip(known)
        .map(|(s, v)| (s.n, v.unwrap_or(Slotted::Empty)))
        .collect()
}

/// The range from the start of the recent span (`warm_span` before `now`)
/// through the end of `now`'s interval, widened to hold `range`; `None`
/// when `range` doesn't meet the recent span (an old range fetches only
/// itself).
fn warm_hull(range: Range, grain: Grain, now: DateTime<Utc>) -> Option<Range> {
    let tz = range.tz;
    let from = truncate(tz, grain, now - warm_span(grain));
    let to = next(tz, grain, truncate(tz, grain, now));
    (range.from < to && from < range.to).then(|| Range {
        tz,
        from: from.min(range.from),
        to: to.max(range.to),
    })
}

/// What the cache holds for one interval.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slotted {
    /// No row for the interval.
    Empty,
    /// A count (`None`: the query returned no row).
    Count(Option<u64>),
    /// Counts per group.
    Groups(Arc<[(String, u64)]>),
}

impl Slotted {
    fn weight(&self) -> usize {
        match self {
            Slotted::Groups(g) => g.iter().map(|(k, _)| k.len() + 32).sum(),
            _ => 16,
        }
    }
}

fn count(kind: &'static str, result: &'static str) {
    metrics::counter!("authpulse_api_report_cache_total", "kind" => kind, "result" => result)
        .increment(1);
}

async fn poll(cache: Weak<ReportCache>, store: Store, every: Duration) {
    let tables = authpulse_store::versions::watched();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Log a failing poll once, and its recovery, not every tick.
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some((epoch, limit)) = cache
            .upgrade()
            .map(|c| (c.epoch.load(Ordering::SeqCst), c.stale_after))
        else {
            return;
        };
        let at = Instant::now();
        let read = tokio::time::timeout(limit, store.table_versions(&tables)).await;
        let Some(cache) = cache.upgrade() else { return };
        let read = read.map_err(|_| format!("no answer within {limit:?}"));
        match read.and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(rows) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("table versions read again; report cache back on");
                }
                cache.set_versions(Some(versions(rows)), at, epoch)
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "reading table versions failed; report cache bypassed");
                }
                cache.set_versions(None, at, epoch);
            }
        }
    }
}

/// The rows of a poll (groups of parts per table) as `Versions`.
fn versions(rows: Vec<authpulse_store::versions::TableVersion>) -> Versions {
    let mut groups: HashMap<String, Option<Vec<(i64, u64)>>> = HashMap::new();
    for r in rows {
        let table = groups.entry(r.table).or_insert_with(|| Some(Vec::new()));
        match (r.mergetree, table.as_mut()) {
            (true, Some(g)) => g.push((r.lower, r.fingerprint)),
            _ => *table = None,
        }
    }
    groups
        .into_iter()
        .map(|(t, g)| (t, g.map(Parts::new)))
        .collect()
}

/// One report interval of a range: its number, its instants within the
/// range, and whether its count may be cached (it lies wholly in the
/// range).
#[derive(Debug, PartialEq, Eq)]
struct Slot {
    n: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cache: bool,
}

/// The intervals of `range`, or `None` when there are too many to cache.
fn slots(range: Range, grain: Grain) -> Option<Vec<Slot>> {
    let tz = range.tz;
    let mut out: Vec<Slot> = Vec::new();
    let mut t = range.from;
    while t < range.to {
        let end = next(tz, grain, t).min(range.to);
        if end <= t || out.len() > MAX_SLOTS {
            return None;
        }
        let n = interval(tz, grain, t);
        match out.last_mut() {
            // The repeated local hour when DST ends: one number, two hours.
            Some(last) if last.n == n => last.end = end,
            _ => out.push(Slot {
                n,
                start: t,
                end,
                cache: true,
            }),
        }
        t = end;
    }
    // An interval that continues outside the range is only partly in it.
    if let Some(first) = out.first_mut() {
        let before = range.from - chrono::Duration::seconds(1);
        if interval(tz, grain, before) == first.n {
            first.cache = false;
        }
    }
    if let Some(last) = out.last_mut() {
        if interval(tz, grain, range.to) == last.n {
            last.cache = false;
        }
    }
    Some(out)
}

/// Runs `(first, last)` of consecutive unknown slots.
fn gaps<T>(known: &[Option<T>]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut open = None;
    for (i, k) in known.iter().enumerate() {
        match (k.is_none(), open) {
            (true, None) => open = Some(i),
            (false, Some(a)) => {
                runs.push((a, i - 1));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(a) = open {
        runs.push((a, known.len() - 1));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn gaps_are_runs_of_unknown_slots() {
        let k = [None, Some(1), None, None, Some(2), None];
        assert_eq!(gaps(&k), [(0, 0), (2, 3), (5, 5)]);
        assert!(gaps(&[Some(1)]).is_empty());
    }

    #[test]
    fn whole_intervals_are_cached_up_to_the_current_one() {
        let now = truncate(Tz::UTC, Grain::Hour, Utc::now());
        let r = Range {
            tz: Tz::UTC,
            from: now - chrono::Duration::hours(3),
            to: now + chrono::Duration::hours(2),
        };
        let s = slots(r, Grain::Hour).unwrap();
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|s| s.cache));
    }

    #[test]
    fn the_repeated_dst_hour_is_one_slot_and_partial_edges_are_not_cached() {
        let tz = chrono_tz::America::Denver;
        // 2026-11-01: 01:00 MDT = 07:00 UTC, 01:00 MST = 08:00 UTC.
        let whole = Range {
            tz,
            from: utc(2026, 11, 1, 6),
            to: utc(2026, 11, 1, 10),
        };
        let s = slots(whole, Grain::Hour).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[1].start, s[1].end),
            (utc(2026, 11, 1, 7), utc(2026, 11, 1, 9))
        );
        assert!(s.iter().all(|s| s.cache));
        // Starting in the second 01:00: that interval is only half here.
        let half = Range {
            tz,
            from: utc(2026, 11, 1, 8),
            to: utc(2026, 11, 1, 10),
        };
        let s = slots(half, Grain::Hour).unwrap();
        assert_eq!(s.iter().map(|s| s.cache).collect::<Vec<_>>(), [false, true]);
    }

    fn cache(versions: &[(&str, Option<u64>)]) -> ReportCache {
        let c = ReportCache::new(true, 1 << 20);
        c.set(versions);
        c
    }

    impl ReportCache {
        fn set(&self, versions: &[(&str, Option<u64>)]) {
            let v = versions
                .iter()
                .map(|(t, f)| (t.to_string(), f.map(|f| Parts::new(vec![(0, f)]))))
                .collect();
            self.set_versions(Some(v), Instant::now(), self.epoch.load(Ordering::SeqCst));
        }

        /// One table's fingerprints as groups of parts (lower time, hash).
        fn set_parts(&self, table: &str, groups: &[(i64, u64)]) {
            let v = [(table.to_string(), Some(Parts::new(groups.to_vec())))];
            self.set_versions(
                Some(v.into_iter().collect()),
                Instant::now(),
                self.epoch.load(Ordering::SeqCst),
            );
        }
    }

    /// A fake store: one count per hour (its hour of day + 1), the
    /// ranges it was asked for recorded.
    async fn hours(
        c: &ReportCache,
        range: Range,
        asked: &std::sync::Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
    ) -> Vec<IntervalCount> {
        hours_of(c, &["t"], range, asked).await
    }

    async fn hours_of(
        c: &ReportCache,
        tables: &[&str],
        range: Range,
        asked: &std::sync::Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
    ) -> Vec<IntervalCount> {
        c.intervals(&"k", range, Grain::Hour, tables, |r: Range| async move {
            asked.lock().unwrap().push((r.from, r.to));
            // A query takes a while: others may run meanwhile.
            tokio::task::yield_now().await;
            let mut out = Vec::new();
            let mut t = r.from;
            while t < r.to {
                let n = interval(r.tz, Grain::Hour, t);
                out.push(IntervalCount {
                    interval: n,
                    count: (n % 24 + 1) as u64,
                });
                t += chrono::Duration::hours(1);
            }
            Ok::<_, authpulse_store::Error>(out)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn closed_intervals_are_queried_once_per_version() {
        let c = cache(&[("t", Some(1))]);
        let asked = std::sync::Mutex::new(Vec::new());
        let range = |a, b| Range {
            tz: Tz::UTC,
            from: utc(2026, 1, 1, a),
            to: utc(2026, 1, 1, b),
        };
        let first = hours(&c, range(2, 10), &asked).await;
        assert_eq!(first.len(), 8);
        // Inside what is cached: no query, the same counts.
        assert_eq!(hours(&c, range(4, 6), &asked).await, first[2..4]);
        assert_eq!(asked.lock().unwrap().len(), 1);
        // Overlapping: only the hours missing are asked for.
        let wider = hours(&c, range(0, 12), &asked).await;
        assert_eq!(wider[2..10], first[..]);
        assert_eq!(
            asked.lock().unwrap()[1..],
            [
                (utc(2026, 1, 1, 0), utc(2026, 1, 1, 2)),
                (utc(2026, 1, 1, 10), utc(2026, 1, 1, 12))
            ]
        );
        // The table changed: asked again.
        c.set(&[("t", Some(2))]);
        hours(&c, range(4, 6), &asked).await;
        assert_eq!(asked.lock().unwrap().len(), 4);
        // Not a MergeTree, or forgotten: every request asks.
        c.set(&[("t", None)]);
        hours(&c, range(4, 6), &asked).await;
        hours(&c, range(4, 6), &asked).await;
        assert_eq!(asked.lock().unwrap().len(), 6);
        c.set(&[("t", Some(2))]);
        c.forget();
        hours(&c, range(4, 6), &asked).await;
        assert_eq!(asked.lock().unwrap().len(), 7);
    }

    /// The current hour's count is kept like any other until its table
    /// changes; then every hour is read again.
    #[tokio::test]
    async fn the_current_hour_is_kept_until_its_table_changes() {
        let c = cache(&[("t", Some(1))]);
        let asked = std::sync::Mutex::new(Vec::new());
        let to = truncate(Tz::UTC, Grain::Hour, Utc::now()) + chrono::Duration::hours(1);
        let range = Range {
            tz: Tz::UTC,
            from: to - chrono::Duration::hours(6),
            to,
        };
        hours(&c, range, &asked).await;
        hours(&c, range, &asked).await;
        assert_eq!(asked.lock().unwrap().len(), 1);
        c.set(&[("t", Some(2))]);
        hours(&c, range, &asked).await;
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), 2);
        assert_eq!(asked[1], asked[0]);
        assert_eq!(asked[1].1, range.to);
    }

    /// A miss in the recent span fetches the span whole, once: other
    /// recent ranges of the key are then answered from it, and misses
    /// that arrive while it runs wait for it.
    #[tokio::test]
    async fn a_recent_miss_warms_the_recent_span_once() {
        let c = cache(&[("t", Some(1))]);
        let asked = std::sync::Mutex::new(Vec::new());
        let now = Utc::now();
        let to = truncate(Tz::UTC, Grain::Hour, now) + chrono::Duration::hours(1);
        let span = (
            truncate(Tz::UTC, Grain::Hour, now - chrono::Duration::days(120)),
            to,
        );
        let ago = |from_h: i64, hours: i64| Range {
            tz: Tz::UTC,
            from: to - chrono::Duration::hours(from_h),
            to: to - chrono::Duration::hours(from_h - hours),
        };
        let last6 = hours(&c, ago(6, 6), &asked).await;
        assert_eq!(last6.len(), 6);
        assert_eq!(*asked.lock().unwrap(), [span]);
        // Anywhere in the span: no query, and the counts of a direct read.
        let month = hours(&c, ago(24 * 60, 24 * 30), &asked).await;
        assert_eq!(month.len(), 720);
        assert!(month
            .iter()
            .all(|c| c.count == (c.interval % 24 + 1) as u64));
        assert_eq!(asked.lock().unwrap().len(), 1);
        // Reaching before the span: the span is known, only the older
        // hours are asked for.
        let older = ago(24 * 121, 48);
        hours(&c, older, &asked).await;
        assert_eq!(asked.lock().unwrap()[1..], [(older.from, span.0)]);
        // After a change, eight concurrent misses send one query.
        c.set(&[("t", Some(2))]);
        let ranges: Vec<Range> = (1..=8).map(|i| ago(10 * i, 5)).collect();
        let answers =
            futures_util::future::join_all(ranges.iter().map(|r| hours(&c, *r, &asked))).await;
        assert!(answers.iter().all(|a| a.len() == 5));
        assert_eq!(asked.lock().unwrap()[2..], [span]);
    }

    /// Once most of a filter's span is kept, a late event drops the
    /// intervals from its time on, and a miss then reads only its own
    /// range, not the span from the late event's time; a change that
    /// drops more than half of the span makes the filter cold again.
    #[tokio::test]
    async fn a_warm_filter_reads_only_its_range_after_a_late_event() {
        const T: &str = "login_hourly";
        let c = ReportCache::new(true, 1 << 20);
        let set = |groups: &[(i64, u64)]| c.set_parts(T, groups);
        let asked = std::sync::Mutex::new(Vec::new());
        let to = truncate(Tz::UTC, Grain::Hour, Utc::now()) + chrono::Duration::hours(1);
        let last6 = Range {
            tz: Tz::UTC,
            from: to - chrono::Duration::hours(6),
            to,
        };
        set(&[(0, 1)]);
        hours_of(&c, &[T], last6, &asked).await;
        let span_from = asked.lock().unwrap()[0].0;
        assert!(span_from < to - chrono::Duration::days(119));
        // A late event 40 days back: a third of the span dropped.
        let late = (to - chrono::Duration::days(40)).timestamp();
        set(&[(0, 1), (late, 2)]);
        let got = hours_of(&c, &[T], last6, &asked).await;
        assert_eq!(got.len(), 6);
        assert_eq!(asked.lock().unwrap()[1..], [(last6.from, last6.to)]);
        // One 100 days back: most of the span dropped, fetched again whole
        // from there.
        let older = to - chrono::Duration::days(100);
        set(&[(0, 1), (older.timestamp(), 3), (late, 2)]);
        hours_of(&c, &[T], last6, &asked).await;
        assert_eq!(
            asked.lock().unwrap()[2..],
            [(truncate(Tz::UTC, Grain::Hour, older), to)]
        );
    }

    #[test]
    fn parts_before_a_time_ignore_later_groups() {
        let p = Parts::new(vec![(200, 3), (0, 1), (100, 2)]);
        assert_eq!(p.before(0), 0);
        assert_eq!(p.before(50), p.before(100));
        assert_ne!(p.before(100), p.before(101));
        assert_eq!(p.before(201), p.whole());
        let q = Parts::new(vec![(0, 1), (100, 2), (200, 4)]);
        assert_eq!(p.before(200), q.before(200));
        assert_ne!(p.whole(), q.whole());
        assert_ne!(
            Parts::new(vec![(0, 1)]).whole(),
            Parts::new(vec![(0, 2)]).whole()
        );
    }

    /// Over a `BY_TIME` table, new parts drop only the intervals they can
    /// hold rows of: current events the current hour, a late event the
    /// hours from its own on.
    #[tokio::test]
    async fn new_parts_drop_only_the_intervals_from_their_time() {
        const T: &str = "login_hourly";
        assert!(authpulse_store::versions::BY_TIME.contains(&T));
        let c = ReportCache::new(true, 1 << 20);
        let set = |groups: &[(i64, u64)]| c.set_parts(T, groups);
        let asked = std::sync::Mutex::new(Vec::new());
        let hour = truncate(Tz::UTC, Grain::Hour, Utc::now());
        let range = Range {
            tz: Tz::UTC,
            from: hour - chrono::Duration::hours(48),
            to: hour + chrono::Duration::hours(1),
        };
        set(&[(0, 1)]);
        hours_of(&c, &[T], range, &asked).await;
        hours_of(&c, &[T], range, &asked).await;
        assert_eq!(asked.lock().unwrap().len(), 1);
        // An insert of this hour's events.
        set(&[(0, 1), (hour.timestamp() + 5, 2)]);
        let got = hours_of(&c, &[T], range, &asked).await;
        assert_eq!(got.len(), 49);
        assert_eq!(asked.lock().unwrap()[1], (hour, range.to));
        // A late event from 30 hours ago (its part starts mid-hour).
        let late = hour - chrono::Duration::hours(30) + chrono::Duration::minutes(7);
        set(&[(0, 1), (late.timestamp(), 3), (hour.timestamp() + 5, 2)]);
        hours_of(&c, &[T], range, &asked).await;
        assert_eq!(
            asked.lock().unwrap()[2],
            (hour - chrono::Duration::hours(30), range.to)
        );
        // A merge of everything: every hour again.
        set(&[(0, 4)]);
        hours_of(&c, &[T], range, &asked).await;
        assert_eq!(asked.lock().unwrap().len(), 4);
        assert_eq!(asked.lock().unwrap()[3].1, range.to);
        // Not a BY_TIME table: a part from now on drops every hour.
        c.set(&[("t", Some(1))]);
        hours_of(&c, &["t"], range, &asked).await;
        let n = asked.lock().unwrap().len();
        c.set_parts("t", &[(0, 1), (hour.timestamp(), 2)]);
        hours_of(&c, &["t"], range, &asked).await;
        let asked = asked.lock().unwrap();
        assert_eq!(asked.len(), n + 1);
        assert!(asked[n].0 <= range.from);
    }

    /// A poll that stops answering must not keep old fingerprints valid.
    #[test]
    fn fingerprints_read_too_long_ago_are_not_trusted() {
        let c = cache(&[("t", Some(1))]);
        assert!(c.version(&["t"]).is_some());
        let old = Instant::now() - c.stale_after - Duration::from_millis(1);
        let v = [("t".to_string(), Some(Parts::new(vec![(0, 1)])))]
            .into_iter()
            .collect();
        c.set_versions(Some(v), old, c.epoch.load(Ordering::SeqCst));
        assert_eq!(c.version(&["t"]), None);
        assert_eq!(stale_after(Duration::from_millis(100)), MIN_STALE);
        assert_eq!(stale_after(Duration::from_secs(1)), Duration::from_secs(10));
    }

    #[tokio::test]
    async fn only_ok_answers_are_kept() {
        use axum::http::StatusCode;
        let c = cache(&[("t", Some(1))]);
        let runs = &AtomicU64::new(0);
        let ask = |status: StatusCode| {
            c.answer("/x".into(), &["t"], move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                (status, "body").into_response()
            })
        };
        assert_eq!(ask(StatusCode::BAD_REQUEST).await.status(), 400);
        assert_eq!(ask(StatusCode::OK).await.status(), 200);
        // Kept: the 500 below is never produced.
        let r = ask(StatusCode::INTERNAL_SERVER_ERROR).await;
        assert_eq!(r.status(), 200);
        let body = axum::body::to_bytes(r.into_body(), 64).await.unwrap();
        assert_eq!(&body[..], b"body");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        c.set(&[("t", Some(9))]);
        assert_eq!(ask(StatusCode::OK).await.status(), 200);
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    /// Concurrent misses of one key run its query once; another key's
    /// don't wait for it.
    #[tokio::test]
    async fn concurrent_misses_of_a_key_share_one_query() {
        let c = cache(&[("t", Some(1))]);
        let runs = &AtomicU64::new(0);
        let get = |key: &'static str| {
            c.value(key.into(), &["t"], move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, ()>(key.len())
            })
        };
        let got = futures_util::future::join_all((0..8).map(|i| get(["a", "bb"][i % 2]))).await;
        let got: Vec<usize> = got.into_iter().map(|v| *v.unwrap()).collect();
        assert_eq!(got, [1, 2, 1, 2, 1, 2, 1, 2]);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn huge_ranges_bypass() {
        let r = Range {
            tz: Tz::UTC,
            from: utc(2000, 1, 1, 0),
            to: utc(2026, 1, 1, 0),
        };
        assert!(slots(r, Grain::Hour).is_none());
        assert_eq!(slots(r, Grain::Month).unwrap().len(), 312);
    }
}
