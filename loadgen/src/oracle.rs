//! Exact ground truth of a generated stream.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::Path;

use authpulse_schemas::{Body, Event, RegistrationAction, SessionAction};
use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::gen::ms_to_dt;
use crate::{Message, MessageKind};

const NONE: u32 = u32::MAX;

/// FusionAuth-style totals (`/api/report/totals`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub apps: BTreeMap<Uuid, AppTotals>,
    /// `user_created` − `user_deleted` events.
    pub global_registrations: i64,
    /// `user_created` events.
    pub total_global_registrations: u64,
}

/// Totals of one application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppTotals {
    /// All-time successful logins.
    pub logins: u64,
    /// Current registrations: `registered` − `unregistered` events of users
    /// without a `user_deleted` event.
    pub registrations: i64,
    /// All `registered` events.
    pub total_registrations: u64,
}

/// One audit event, for paging checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub org_id: Uuid,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
}

#[derive(Debug, Default, Clone)]
struct Interner {
    map: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn get(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.map.insert(s.to_owned(), i);
        i
    }

    fn find(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
}

#[derive(Debug, Default, Clone)]
struct UuidInterner {
    map: HashMap<Uuid, u32>,
    ids: Vec<Uuid>,
}

impl UuidInterner {
    fn get(&mut self, u: Uuid) -> u32 {
        *self.map.entry(u).or_insert_with(|| {
            self.ids.push(u);
            (self.ids.len() - 1) as u32
        })
    }

    fn find(&self, u: &Uuid) -> Option<u32> {
        self.map.get(u).copied()
    }
}

#[derive(Debug, Clone, Copy)]
struct LoginRec {
    ms: i64,
    user: u32,
    app: u32,
    login_id: u32,
    org: u32,
    provider: u32,
    success: bool,
}

#[derive(Debug, Clone, Copy)]
struct RegRec {
    ms: i64,
    user: u32,
    app: u32,
    action: RegistrationAction,
}

#[derive(Debug, Clone, Copy)]
struct TokenRec {
    ms: i64,
    grant: u32,
    token_type: u32,
}

#[derive(Debug, Clone, Copy)]
struct SessionRec {
    ms: i64,
    expires_ms: i64,
    session: u32,
    user: u32,
    created: bool,
}

#[derive(Debug, Clone, Copy)]
struct AuditRec {
    id: Uuid,
    ms: i64,
    org: u32,
    action: u32,
    entity_type: u32,
    entity_id: u32,
}

/// Exact expected answers, from first sends of valid events only.
///
/// ```text
/// let mut o = Oracle::new();
/// for m in generate(&profile) { o.observe(&m) }
/// ```
///
/// Records are compact (indices into interned ids), so a few million events
/// are fine. Every query is computed on demand by a scan.
#[derive(Debug, Default, Clone)]
pub struct Oracle {
    duplicates: u64,
    poison: BTreeMap<&'static str, u64>,
    by_type: [u64; 5],
    orgs: UuidInterner,
    users: UuidInterner,
    apps: UuidInterner,
    strings: Interner,
    login_ids: Interner,
    sessions: Interner,
    entity_ids: Interner,
    logins: Vec<LoginRec>,
    regs: Vec<RegRec>,
    tokens: Vec<TokenRec>,
    session_recs: Vec<SessionRec>,
    audits: Vec<AuditRec>,
}

/// Seconds since the epoch of the wall clock of `tz` at UTC instant `ms`.
fn local_secs(tz: Tz, ms: i64) -> i64 {
    let secs = ms.div_euclid(1000);
    let utc = DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc();
    secs + tz.offset_from_utc_datetime(&utc).fix().local_minus_utc() as i64
}

fn local_hour(tz: Tz, ms: i64) -> i64 {
    local_secs(tz, ms).div_euclid(3600)
}

fn local_day(tz: Tz, ms: i64) -> i64 {
    local_secs(tz, ms).div_euclid(86_400)
}

fn local_naive(tz: Tz, ms: i64) -> NaiveDateTime {
    DateTime::from_timestamp(local_secs(tz, ms), 0)
        .unwrap_or_default()
        .naive_utc()
}

fn local_month(tz: Tz, ms: i64) -> i64 {
    let t = local_naive(tz, ms);
    (t.year() as i64 - 1970) * 12 + t.month0() as i64
}

fn yyyymm(tz: Tz, ms: i64) -> String {
    let t = local_naive(tz, ms);
    format!("{:04}{:02}", t.year(), t.month())
}

fn count_distinct(mut pairs: Vec<(i64, u32)>) -> BTreeMap<i64, u64> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = BTreeMap::new();
    for (k, _) in pairs {
        *out.entry(k).or_insert(0) += 1;
    }
    out
}

impl Oracle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Account for one message of the stream.
    pub fn observe(&mut self, m: &Message) {
        match &m.kind {
            MessageKind::Poison(code) => *self.poison.entry(code).or_insert(0) += 1,
            MessageKind::Duplicate(_) => self.duplicates += 1,
            MessageKind::Event(e) => self.observe_event(e),
        }
    }

    /// Account for the first send of a valid event.
    pub fn observe_event(&mut self, e: &Event) {
        let ms = e.occurred_at.timestamp_millis();
        let org = self.orgs.get(e.org.id);
        match &e.body {
            Body::Login(l) => {
                self.by_type[0] += 1;
                let rec = LoginRec {
                    ms,
                    user: l.user_id.map_or(NONE, |u| self.users.get(u)),
                    app: self.apps.get(l.application_id),
                    login_id: self.login_ids.get(&l.login_id),
                    org,
                    provider: self.strings.get(&l.provider),
                    success: l.success,
                };
                self.logins.push(rec);
            }
            Body::Registration(r) => {
                self.by_type[1] += 1;
                let rec = RegRec {
                    ms,
                    user: self.users.get(r.user_id),
                    app: r.application_id.map_or(NONE, |a| self.apps.get(a)),
                    action: r.action,
                };
                self.regs.push(rec);
            }
            Body::Token(t) => {
                self.by_type[2] += 1;
                let rec = TokenRec {
                    ms,
                    grant: self.strings.get(&t.grant_type),
                    token_type: self.strings.get(&t.token_type),
                };
                self.tokens.push(rec);
            }
            Body::Session(s) => {
                self.by_type[3] += 1;
                let rec = SessionRec {
                    ms,
                    expires_ms: s.expires_at.map_or(i64::MIN, |t| t.timestamp_millis()),
                    session: self.sessions.get(&s.session_id),
                    user: self.users.get(s.user_id),
                    created: s.action == SessionAction::Created,
                };
                self.session_recs.push(rec);
            }
            Body::Audit(a) => {
                self.by_type[4] += 1;
                let rec = AuditRec {
                    id: e.id,
                    ms,
                    org,
                    action: self.strings.get(&a.action),
                    entity_type: self.strings.get(&a.entity_type),
                    entity_id: self.entity_ids.get(&a.entity_id),
                };
                self.audits.push(rec);
            }
        }
    }

    /// First sends of valid events.
    pub fn valid_events(&self) -> u64 {
        self.by_type.iter().sum()
    }

    /// Re-sent messages (to be deduplicated).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Poison messages by expected dead-letter reason code.
    pub fn poison_by_reason(&self) -> BTreeMap<&'static str, u64> {
        self.poison.clone()
    }

    /// Valid events by type (all five types present, possibly 0).
    pub fn events_by_type(&self) -> BTreeMap<&'static str, u64> {
        authpulse_schemas::EVENT_TYPES
            .into_iter()
            .zip(self.by_type)
            .collect()
    }

    fn app_set(&self, apps: &[Uuid]) -> Option<HashSet<u32>> {
        (!apps.is_empty()).then(|| apps.iter().filter_map(|a| self.apps.find(a)).collect())
    }

    fn successes(&self) -> impl Iterator<Item = &LoginRec> {
        self.logins.iter().filter(|l| l.success)
    }

    fn hourly<'a>(
        &'a self,
        tz: Tz,
        recs: impl Iterator<Item = &'a LoginRec>,
    ) -> BTreeMap<i64, u64> {
        let mut out = BTreeMap::new();
        for l in recs {
            *out.entry(local_hour(tz, l.ms)).or_insert(0) += 1;
        }
        out
    }

    /// Successful logins per local hour interval
    /// (`floor(local wall-clock seconds since epoch / 3600)`); `app` None =
    /// all applications.
    pub fn login_hourly(&self, tz: Tz, app: Option<Uuid>) -> BTreeMap<i64, u64> {
        let app = match app {
            None => None,
            Some(a) => match self.apps.find(&a) {
                Some(i) => Some(i),
                None => return BTreeMap::new(),
            },
        };
        self.hourly(
            tz,
            self.successes().filter(|l| app.is_none_or(|a| l.app == a)),
        )
    }

    /// Successful logins of one user per local hour interval.
    pub fn login_hourly_by_user(&self, tz: Tz, user: Uuid) -> BTreeMap<i64, u64> {
        let Some(u) = self.users.find(&user) else {
            return BTreeMap::new();
        };
        self.hourly(tz, self.successes().filter(|l| l.user == u))
    }

    /// Successful logins with this login id per local hour interval.
    pub fn login_hourly_by_login_id(&self, tz: Tz, login_id: &str) -> BTreeMap<i64, u64> {
        let Some(id) = self.login_ids.find(login_id) else {
            return BTreeMap::new();
        };
        self.hourly(tz, self.successes().filter(|l| l.login_id == id))
    }

    fn distinct_by(&self, apps: &[Uuid], key: impl Fn(i64) -> i64) -> BTreeMap<i64, u64> {
        let set = self.app_set(apps);
        let pairs = self
            .successes()
            .filter(|l| set.as_ref().is_none_or(|s| s.contains(&l.app)))
            .map(|l| (key(l.ms), l.user))
            .collect();
        count_distinct(pairs)
    }

    /// Distinct users with at least one successful login per local day
    /// (interval = days since the epoch of the local date); `apps` empty =
    /// all applications.
    pub fn dau(&self, tz: Tz, apps: &[Uuid]) -> BTreeMap<i64, u64> {
        self.distinct_by(apps, |ms| local_day(tz, ms))
    }

    /// Distinct users with at least one successful login per local month
    /// (interval = `(year − 1970) × 12 + month0`).
    pub fn mau(&self, tz: Tz, apps: &[Uuid]) -> BTreeMap<i64, u64> {
        self.distinct_by(apps, |ms| local_month(tz, ms))
    }

    /// Distinct users with a successful login in `[from, to)`.
    pub fn distinct_active(&self, from: DateTime<Utc>, to: DateTime<Utc>, apps: &[Uuid]) -> u64 {
        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
        let set = self.app_set(apps);
        self.successes()
            .filter(|l| l.ms >= from && l.ms < to)
            .filter(|l| set.as_ref().is_none_or(|s| s.contains(&l.app)))
            .map(|l| l.user)
            .collect::<HashSet<_>>()
            .len() as u64
    }

    /// `registered` events per local hour interval; `app` None = all.
    pub fn registration_hourly(&self, tz: Tz, app: Option<Uuid>) -> BTreeMap<i64, u64> {
        let app = match app {
            None => None,
            Some(a) => match self.apps.find(&a) {
                Some(i) => Some(i),
                None => return BTreeMap::new(),
            },
        };
        let mut out = BTreeMap::new();
        for r in &self.regs {
            if r.action == RegistrationAction::Registered && app.is_none_or(|a| r.app == a) {
                *out.entry(local_hour(tz, r.ms)).or_insert(0) += 1;
            }
        }
        out
    }

    /// FusionAuth totals. `apps` holds every application named by a login
    /// (successful or not) or a registration event.
    pub fn totals(&self) -> Totals {
        let mut deleted = vec![false; self.users.ids.len()];
        let (mut created, mut removed) = (0u64, 0u64);
        for r in &self.regs {
            match r.action {
                RegistrationAction::UserCreated => created += 1,
                RegistrationAction::UserDeleted => {
                    removed += 1;
                    deleted[r.user as usize] = true;
                }
                _ => {}
            }
        }
        let mut apps: BTreeMap<u32, AppTotals> = BTreeMap::new();
        for l in &self.logins {
            let t = apps.entry(l.app).or_default();
            if l.success {
                t.logins += 1;
            }
        }
        for r in &self.regs {
            if r.app == NONE {
                continue;
            }
            match r.action {
                RegistrationAction::Registered => {
                    let t = apps.entry(r.app).or_default();
                    t.total_registrations += 1;
                    if !deleted[r.user as usize] {
                        t.registrations += 1;
                    }
                }
                RegistrationAction::Unregistered => {
                    let t = apps.entry(r.app).or_default();
                    if !deleted[r.user as usize] {
                        t.registrations -= 1;
                    }
                }
                _ => {}
            }
        }
        Totals {
            apps: apps
                .into_iter()
                .map(|(a, t)| (self.apps.ids[a as usize], t))
                .collect(),
            global_registrations: created as i64 - removed as i64,
            total_global_registrations: created,
        }
    }

    /// Tokens per local month `"YYYYMM"` → grant type → token type → count.
    pub fn tokens_by_month(
        &self,
        tz: Tz,
    ) -> BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>> {
        let mut counts: HashMap<(String, u32, u32), u64> = HashMap::new();
        for t in &self.tokens {
            *counts
                .entry((yyyymm(tz, t.ms), t.grant, t.token_type))
                .or_insert(0) += 1;
        }
        let mut out: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>> = BTreeMap::new();
        for ((month, g, tt), n) in counts {
            out.entry(month)
                .or_default()
                .entry(self.strings.names[g as usize].clone())
                .or_default()
                .insert(self.strings.names[tt as usize].clone(), n);
        }
        out
    }

    /// Distinct users with a successful login per local month `"YYYYMM"`.
    pub fn mau_by_month(&self, tz: Tz) -> BTreeMap<String, u64> {
        self.mau(tz, &[])
            .into_iter()
            .map(|(m, n)| {
                (
                    format!("{:04}{:02}", 1970 + m.div_euclid(12), m.rem_euclid(12) + 1),
                    n,
                )
            })
            .collect()
    }

    fn org_logins(&self, org: Uuid) -> impl Iterator<Item = &LoginRec> {
        let o = self.orgs.find(&org).unwrap_or(NONE);
        self.logins.iter().filter(move |l| l.org == o)
    }

    /// Per UTC date `"YYYY-MM-DD"`: (successful, failed) logins of the org.
    pub fn org_logins_daily(&self, org: Uuid) -> BTreeMap<String, (u64, u64)> {
        let mut days: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for l in self.org_logins(org) {
            let d = days.entry(l.ms.div_euclid(86_400_000)).or_default();
            if l.success {
                d.0 += 1;
            } else {
                d.1 += 1;
            }
        }
        days.into_iter()
            .map(|(d, n)| (ms_to_dt(d * 86_400_000).format("%Y-%m-%d").to_string(), n))
            .collect()
    }

    /// Successful logins of the org per application id.
    pub fn org_logins_by_app(&self, org: Uuid) -> BTreeMap<Uuid, u64> {
        let mut out = BTreeMap::new();
        for l in self.org_logins(org).filter(|l| l.success) {
            *out.entry(self.apps.ids[l.app as usize]).or_insert(0) += 1;
        }
        out
    }

    /// Successful logins of the org per provider.
    pub fn org_logins_by_provider(&self, org: Uuid) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for l in self.org_logins(org).filter(|l| l.success) {
            *out.entry(self.strings.names[l.provider as usize].clone())
                .or_insert(0) += 1;
        }
        out
    }

    /// Current status counts per entity type: the status of an entity
    /// (`entity_type`, `entity_id`) is that of its lifecycle audit action
    /// (`authpulse_schemas::entity_status`) with the latest `occurred_at`
    /// (ties: the larger event id wins). Entities with no lifecycle action
    /// are not counted.
    pub fn entity_status_counts(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut latest: HashMap<(u32, u32), (i64, Uuid, &'static str)> = HashMap::new();
        for a in &self.audits {
            let Some(status) =
                authpulse_schemas::entity_status(&self.strings.names[a.action as usize])
            else {
                continue;
            };
            let slot = latest.entry((a.entity_type, a.entity_id)).or_insert((
                i64::MIN,
                Uuid::nil(),
                status,
            ));
            if (a.ms, a.id) >= (slot.0, slot.1) {
                *slot = (a.ms, a.id, status);
            }
        }
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((et, _), (_, _, status)) in latest {
            *out.entry(self.strings.names[et as usize].clone())
                .or_default()
                .entry(status.to_owned())
                .or_insert(0) += 1;
        }
        out
    }

    /// Sessions active at `at` and their distinct users. A session is
    /// active if it has a `created` event with `occurred_at <= at` and
    /// `expires_at > at`, and no `revoked` event with `occurred_at <= at`.
    pub fn active_sessions(&self, at: DateTime<Utc>) -> (u64, u64) {
        let at = at.timestamp_millis();
        let revoked: HashSet<u32> = self
            .session_recs
            .iter()
            .filter(|s| !s.created && s.ms <= at)
            .map(|s| s.session)
            .collect();
        let mut sessions = HashSet::new();
        let mut users = HashSet::new();
        for s in &self.session_recs {
            if s.created && s.ms <= at && s.expires_ms > at && !revoked.contains(&s.session) {
                sessions.insert(s.session);
                users.insert(s.user);
            }
        }
        (sessions.len() as u64, users.len() as u64)
    }

    /// Audit events per action.
    pub fn audit_by_action(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for a in &self.audits {
            *out.entry(self.strings.names[a.action as usize].clone())
                .or_insert(0) += 1;
        }
        out
    }

    /// Every audit event, ordered by (`occurred_at`, id) — for paging
    /// checks (filter by org / entity as needed).
    pub fn audit_events(&self) -> Vec<AuditEntry> {
        let mut recs: Vec<&AuditRec> = self.audits.iter().collect();
        recs.sort_unstable_by_key(|a| (a.ms, a.id));
        recs.into_iter()
            .map(|a| AuditEntry {
                id: a.id,
                occurred_at: ms_to_dt(a.ms),
                org_id: self.orgs.ids[a.org as usize],
                action: self.strings.names[a.action as usize].clone(),
                entity_type: self.strings.names[a.entity_type as usize].clone(),
                entity_id: self.entity_ids.names[a.entity_id as usize].clone(),
            })
            .collect()
    }

    /// The JSON truth summary for benchmarks.
    pub fn truth_json(&self) -> serde_json::Value {
        let totals = self.totals();
        let apps: serde_json::Map<String, serde_json::Value> = totals
            .apps
            .iter()
            .map(|(id, t)| {
                (
                    id.to_string(),
                    json!({
                        "logins": t.logins,
                        "registrations": t.registrations,
                        "totalRegistrations": t.total_registrations,
                    }),
                )
            })
            .collect();
        json!({
            "valid_events": self.valid_events(),
            "duplicates": self.duplicates,
            "poison_by_reason": self.poison,
            "events_by_type": self.events_by_type(),
            "totals": {
                "applicationTotals": apps,
                "globalRegistrations": totals.global_registrations,
                "totalGlobalRegistrations": totals.total_global_registrations,
            },
            "mau_by_month_utc": self.mau_by_month(Tz::UTC),
            "tokens_by_month_utc": self.tokens_by_month(Tz::UTC),
            "audit_by_action": self.audit_by_action(),
            "entity_status_counts": self.entity_status_counts(),
        })
    }

    /// Write [`Oracle::truth_json`] (pretty-printed) to `path`.
    pub fn write_truth(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.truth_json()).map_err(io::Error::other)?;
        bytes.push(b'\n');
        std::fs::write(path, bytes)
    }
}
