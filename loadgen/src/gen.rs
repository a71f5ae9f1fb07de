//! The streaming generator.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

use authpulse_schemas::{
    to_json, Audit, Body, Event, Login, Org, Registration, RegistrationAction, Session,
    SessionAction, Token,
};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::ids::{self, apps_len, users_len};
use crate::rng::{hash, uuid_of, Rng, Zipf};
use crate::{poison, Message, MessageKind, Profile};

const TAG_EVENT: u64 = 10;
const TAG_SESSION: u64 = 11;
const TAG_STREAM: u64 = 12;
const TAG_USERPREF: u64 = 13;
const TAG_POISON: u64 = 14;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// How many recent first sends a duplicate may copy.
const RECENT: usize = 48;
/// Open sessions remembered for later revocation.
const OPEN_SESSIONS: usize = 4_096;

const PROVIDERS: [(&str, u32); 6] = [
    ("password", 45),
    ("google", 20),
    ("microsoft", 12),
    ("github", 10),
    ("saml", 8),
    ("okta", 5),
];

const FAILURES: [(&str, u32); 4] = [
    ("invalid_password", 60),
    ("user_not_found", 20),
    ("mfa_failed", 12),
    ("locked", 8),
];

const GRANTS: [(&str, u32); 8] = [
    ("authorization_code", 30),
    ("refresh_token", 28),
    ("client_credentials", 14),
    ("password", 5),
    ("implicit", 3),
    ("urn:ietf:params:oauth:grant-type:device_code", 8),
    ("urn:openid:params:grant-type:ciba", 5),
    ("urn:ietf:params:oauth:grant-type:uma-ticket", 7),
];

const USER_AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
    "okhttp/4.12.0",
];

const ROLES: [&str; 6] = ["admin", "editor", "viewer", "billing", "support", "auditor"];

// Audit lifecycle states (organizations, users, clients).
const ST_NONE: u8 = 0;
const ST_ACTIVE: u8 = 1;
const ST_INACTIVE: u8 = 2;
const ST_SUSPENDED: u8 = 3;
const ST_LOCKED: u8 = 4;
const ST_ARCHIVED: u8 = 5;
const ST_REVOKED: u8 = 6;

/// Generate the message stream of `profile`: deterministic from the seed,
/// lazily (constant memory in the stream length; O(orgs × users) state).
pub fn generate(profile: &Profile) -> Generator {
    Generator::new(profile)
}

#[derive(Debug, Clone)]
struct UserState {
    id: Uuid,
    /// Event time of `user_created`, `i64::MIN` while not created.
    created_ms: i64,
    deleted: bool,
    /// Bit `a`: currently registered to application `a`.
    reg: u64,
    /// Porta (audit) lifecycle state.
    audit: u8,
    provider: u8,
    home_app: u8,
    ip_seed: u32,
}

#[derive(Debug, Clone)]
struct AppState {
    id: Uuid,
    name: String,
    client_id: String,
    client: u8,
}

#[derive(Debug, Clone)]
struct OrgState {
    org: Org,
    apps: Vec<AppState>,
    users: Vec<UserState>,
    status: u8,
    roles: u32,
    /// Every user below this index has been created.
    cursor: usize,
    /// Deleted users (capped at 5% of the users).
    deleted: usize,
}

#[derive(Debug, Clone)]
struct OpenSession {
    id: String,
    org: u32,
    user: u32,
    app: u32,
    created_ms: i64,
}

#[derive(Debug, Clone, Copy)]
enum Boot {
    Org(usize),
    App(usize, usize),
    Client(usize, usize),
}

/// Maps a uniform `u ∈ [0, 1)` to an event time following a diurnal and
/// weekly intensity curve (monotone in `u`).
#[derive(Debug, Clone)]
struct TimeWarp {
    start_ms: i64,
    span_ms: i64,
    cum: Vec<f64>,
}

impl TimeWarp {
    fn new(start: DateTime<Utc>, span_ms: i64) -> Self {
        let start_ms = start.timestamp_millis();
        let span_ms = span_ms.max(0);
        let n = (span_ms + HOUR_MS - 1) / HOUR_MS;
        let mut cum = Vec::with_capacity(n as usize);
        let mut acc = 0.0;
        for k in 0..n {
            let b = start_ms + k * HOUR_MS;
            let len = HOUR_MS.min(span_ms - k * HOUR_MS);
            let t = ms_to_dt(b);
            let h = t.hour() as f64 + t.minute() as f64 / 60.0;
            // Peak around 15:00 UTC, trough around 03:00 UTC.
            let diurnal =
                0.3 + 0.7 * (0.5 - 0.5 * ((h - 3.0) / 24.0 * std::f64::consts::TAU).cos());
            let weekly = if t.weekday().number_from_monday() >= 6 {
                0.6
            } else {
                1.0
            };
            acc += diurnal * weekly * len as f64 / HOUR_MS as f64;
            cum.push(acc);
        }
        TimeWarp {
            start_ms,
            span_ms,
            cum,
        }
    }

    fn at(&self, u: f64) -> i64 {
        let Some(&total) = self.cum.last() else {
            return self.start_ms;
        };
        let target = u.clamp(0.0, 1.0) * total;
        let k = self
            .cum
            .partition_point(|&c| c <= target)
            .min(self.cum.len() - 1);
        let before = if k == 0 { 0.0 } else { self.cum[k - 1] };
        let w = self.cum[k] - before;
        let len = HOUR_MS.min(self.span_ms - k as i64 * HOUR_MS);
        let frac = if w > 0.0 {
            ((target - before) / w).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let t = self.start_ms + k as i64 * HOUR_MS + (frac * len as f64) as i64;
        t.clamp(self.start_ms, self.start_ms + self.span_ms.max(1) - 1)
    }
}

pub(crate) fn ms_to_dt(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Iterator over the messages of a [`Profile`]; see [`generate`].
#[derive(Debug, Clone)]
pub struct Generator {
    p: Profile,
    rng: Rng,
    index: u64,
    seq: u64,
    warp: TimeWarp,
    orgs: Vec<OrgState>,
    org_weights: Vec<u32>,
    zipf: Zipf,
    boot: Vec<Boot>,
    boot_pos: usize,
    boot_end_ms: i64,
    recent: VecDeque<(String, Vec<u8>, Uuid)>,
    sessions: Vec<OpenSession>,
}

impl Generator {
    fn new(p: &Profile) -> Self {
        let p = p.clone();
        let n_apps = apps_len(&p);
        let n_users = users_len(&p);
        let mut orgs = Vec::new();
        let mut boot = Vec::new();
        for (o, (id, slug)) in ids::org_ids(&p).into_iter().enumerate() {
            let apps = ids::app_ids(&p, o)
                .into_iter()
                .enumerate()
                .map(|(a, (id, name))| AppState {
                    id,
                    name,
                    client_id: ids::client_id(o, a),
                    client: ST_NONE,
                })
                .collect();
            let users = (0..n_users)
                .map(|u| {
                    let h = hash(p.seed, TAG_USERPREF, o as u64, u as u64);
                    let provider = {
                        let mut r = Rng::new(h);
                        r.weighted(&PROVIDERS.map(|(_, w)| w)) as u8
                    };
                    UserState {
                        id: ids::user_id(&p, o, u),
                        created_ms: i64::MIN,
                        deleted: false,
                        reg: 0,
                        audit: ST_NONE,
                        provider,
                        home_app: ((h >> 32) % n_apps as u64) as u8,
                        ip_seed: (h >> 8) as u32,
                    }
                })
                .collect();
            boot.push(Boot::Org(o));
            for a in 0..n_apps {
                boot.push(Boot::App(o, a));
                boot.push(Boot::Client(o, a));
            }
            orgs.push(OrgState {
                org: Org { id, slug },
                apps,
                users,
                status: ST_NONE,
                roles: 0,
                cursor: 0,
                deleted: 0,
            });
        }
        let org_weights = (0..orgs.len())
            .map(|o| (1000.0 / ((o + 1) as f64).powf(0.6)) as u32)
            .collect();
        Generator {
            rng: Rng::new(hash(p.seed, TAG_STREAM, 0, 0)),
            index: 0,
            seq: 0,
            warp: TimeWarp::new(p.start, p.span.num_milliseconds()),
            orgs,
            org_weights,
            zipf: Zipf::new(n_users, p.zipf_s),
            boot,
            boot_pos: 0,
            boot_end_ms: p.start.timestamp_millis(),
            recent: VecDeque::with_capacity(RECENT),
            sessions: Vec::new(),
            p,
        }
    }

    fn event(&mut self, o: usize, ms: i64, body: Body) -> Event {
        let id = uuid_of(self.p.seed, TAG_EVENT, self.seq, 0);
        self.seq += 1;
        Event {
            id,
            occurred_at: ms_to_dt(ms),
            org: self.orgs[o].org.clone(),
            body,
        }
    }

    /// Event time: `now`, or for a late event 2 h .. 7 days earlier, but not
    /// before `floor` nor before the bootstrap (org/app creation) finished.
    fn when(&mut self, now: i64, late: bool, floor: i64) -> i64 {
        if !late {
            return now;
        }
        let back = self.rng.range(2 * HOUR_MS, 7 * DAY_MS);
        (now - back)
            .max(floor.saturating_add(1))
            .max(self.boot_end_ms + 1)
            .min(now)
    }

    fn ip(&mut self, seed: u32) -> String {
        let s = if self.rng.chance(0.8) {
            seed as u64
        } else {
            self.rng.next_u64()
        };
        if s % 7 == 0 {
            Ipv6Addr::new(
                0x2001,
                0xdb8,
                (s >> 8) as u16,
                0,
                0,
                0,
                0,
                (s >> 24) as u16 | 1,
            )
            .to_string()
        } else {
            const FIRST: [u8; 8] = [203, 198, 81, 62, 185, 45, 100, 151];
            Ipv4Addr::new(
                FIRST[(s >> 3) as usize % FIRST.len()],
                (s >> 8) as u8,
                (s >> 16) as u8,
                ((s >> 24) as u8).max(1),
            )
            .to_string()
        }
    }

    fn pick_org(&mut self) -> usize {
        self.rng.weighted(&self.org_weights)
    }

    /// A user by activity rank; deleted users are mostly skipped (they
    /// still show up now and then, as failed logins).
    fn pick_user(&mut self, o: usize) -> usize {
        let mut u = self.zipf.sample(&mut self.rng);
        for _ in 0..3 {
            if !self.orgs[o].users[u].deleted {
                break;
            }
            u = self.zipf.sample(&mut self.rng);
        }
        u
    }

    fn pick_app(&mut self, o: usize, u: usize) -> usize {
        let n = self.orgs[o].apps.len();
        if self.rng.chance(0.75) {
            self.orgs[o].users[u].home_app as usize % n
        } else {
            self.rng.index(n)
        }
    }

    fn registration(
        &mut self,
        o: usize,
        u: usize,
        ms: i64,
        action: RegistrationAction,
        app: Option<usize>,
    ) -> Event {
        let (application_id, application_name) = match app {
            Some(a) => {
                let app = &self.orgs[o].apps[a];
                (Some(app.id), Some(app.name.clone()))
            }
            None => (None, None),
        };
        let org = &mut self.orgs[o];
        let user = &mut org.users[u];
        match action {
            RegistrationAction::UserCreated => user.created_ms = ms,
            RegistrationAction::UserDeleted => {
                user.deleted = true;
                org.deleted += 1;
            }
            RegistrationAction::Registered => user.reg |= 1 << app.unwrap_or(0),
            RegistrationAction::Unregistered => user.reg &= !(1 << app.unwrap_or(0)),
        }
        let user_id = user.id;
        self.event(
            o,
            ms,
            Body::Registration(Registration {
                action,
                user_id,
                application_id,
                application_name,
            }),
        )
    }

    /// A failed login naming no known user.
    fn unknown_user_login(&mut self, o: usize, u: usize, now: i64, late: bool) -> Event {
        let login_id = if self.rng.chance(0.5) {
            ids::login_id(&self.p, o, u)
        } else {
            format!(
                "unknown{}@{}.example",
                self.rng.below(100_000),
                self.orgs[o].org.slug
            )
        };
        let a = self.rng.index(self.orgs[o].apps.len());
        let ip = self.ip(self.orgs[o].users[u].ip_seed);
        let ms = self.when(now, late, i64::MIN);
        let app = &self.orgs[o].apps[a];
        let body = Body::Login(Login {
            success: false,
            failure_reason: Some("user_not_found".to_owned()),
            user_id: None,
            login_id,
            application_id: app.id,
            application_name: Some(app.name.clone()),
            provider: "password".to_owned(),
            ip: Some(ip),
            user_agent: Some(USER_AGENTS[self.rng.index(USER_AGENTS.len())].to_owned()),
            session_id: None,
        });
        self.event(o, ms, body)
    }

    /// `Some(event)` when the user cannot act yet (or any more): the event to
    /// emit instead (`user_created`, or a failed login of a deleted user).
    fn ensure_user(&mut self, o: usize, u: usize, now: i64, late: bool) -> Option<Event> {
        let user = &self.orgs[o].users[u];
        if user.deleted {
            Some(self.unknown_user_login(o, u, now, late))
        } else if user.created_ms == i64::MIN {
            Some(self.registration(o, u, now, RegistrationAction::UserCreated, None))
        } else {
            None
        }
    }

    /// `Some(registered event)` when the user is not registered to app `a`.
    fn ensure_registered(&mut self, o: usize, u: usize, a: usize, now: i64) -> Option<Event> {
        (self.orgs[o].users[u].reg & (1 << a) == 0)
            .then(|| self.registration(o, u, now, RegistrationAction::Registered, Some(a)))
    }

    fn login(&mut self, now: i64, late: bool) -> Event {
        let o = self.pick_org();
        let u = self.pick_user(o);
        let success = self.rng.chance(0.88);
        let (deleted, created) = {
            let user = &self.orgs[o].users[u];
            (user.deleted, user.created_ms != i64::MIN)
        };
        if deleted {
            return self.unknown_user_login(o, u, now, late);
        }
        if !created {
            // A user's first appearance: they sign up first.
            return self.registration(o, u, now, RegistrationAction::UserCreated, None);
        }
        if !success {
            let reason = self.rng.pick(&FAILURES);
            if reason == "user_not_found" {
                return self.unknown_user_login(o, u, now, late);
            }
            let a = self.pick_app(o, u);
            let user = self.orgs[o].users[u].clone();
            let provider = if self.rng.chance(0.8) {
                "password"
            } else {
                PROVIDERS[user.provider as usize].0
            };
            let ip = self.ip(user.ip_seed);
            let ms = self.when(now, late, user.created_ms);
            let app = &self.orgs[o].apps[a];
            let body = Body::Login(Login {
                success: false,
                failure_reason: Some(reason.to_owned()),
                user_id: Some(user.id),
                login_id: ids::login_id(&self.p, o, u),
                application_id: app.id,
                application_name: Some(app.name.clone()),
                provider: provider.to_owned(),
                ip: Some(ip),
                user_agent: Some(USER_AGENTS[self.rng.index(USER_AGENTS.len())].to_owned()),
                session_id: None,
            });
            return self.event(o, ms, body);
        }
        let a = self.pick_app(o, u);
        if let Some(e) = self.ensure_registered(o, u, a, now) {
            return e;
        }
        let user = self.orgs[o].users[u].clone();
        let provider = if self.rng.chance(0.9) {
            PROVIDERS[user.provider as usize].0
        } else {
            self.rng.pick(&PROVIDERS)
        };
        let ip = self.ip(user.ip_seed);
        let ms = self.when(now, late, user.created_ms);
        let session_id = self
            .rng
            .chance(0.8)
            .then(|| format!("sess_{:016x}", hash(self.p.seed, TAG_SESSION, self.seq, 1)));
        let app = &self.orgs[o].apps[a];
        let body = Body::Login(Login {
            success: true,
            failure_reason: None,
            user_id: Some(user.id),
            login_id: ids::login_id(&self.p, o, u),
            application_id: app.id,
            application_name: self.rng.chance(0.9).then(|| app.name.clone()),
            provider: provider.to_owned(),
            ip: Some(ip),
            user_agent: Some(
                USER_AGENTS[(user.ip_seed as usize + self.rng.index(2)) % USER_AGENTS.len()]
                    .to_owned(),
            ),
            session_id,
        });
        self.event(o, ms, body)
    }

    fn token(&mut self, now: i64, late: bool) -> Event {
        let o = self.pick_org();
        let grant = self.rng.pick(&GRANTS);
        let token_type: &str = match grant {
            "authorization_code" => self.rng.pick(&[
                ("access_token", 50),
                ("id_token", 25),
                ("refresh_token", 25),
            ]),
            "refresh_token" => self
                .rng
                .pick(&[("access_token", 80), ("refresh_token", 20)]),
            "client_credentials" => "access_token",
            "password" | "urn:ietf:params:oauth:grant-type:device_code" => self
                .rng
                .pick(&[("access_token", 70), ("refresh_token", 30)]),
            "implicit" | "urn:openid:params:grant-type:ciba" => {
                self.rng.pick(&[("access_token", 60), ("id_token", 40)])
            }
            _ => self.rng.pick(&[("uma_token", 85), ("access_token", 15)]),
        };
        let (a, user_id, floor) = if grant == "client_credentials" {
            (self.rng.index(self.orgs[o].apps.len()), None, i64::MIN)
        } else {
            let u = self.pick_user(o);
            if let Some(e) = self.ensure_user(o, u, now, late) {
                return e;
            }
            let a = self.pick_app(o, u);
            if let Some(e) = self.ensure_registered(o, u, a, now) {
                return e;
            }
            let user = &self.orgs[o].users[u];
            (a, Some(user.id), user.created_ms)
        };
        let ms = self.when(now, late, floor);
        let with_app = self.rng.chance(0.95);
        let app = &self.orgs[o].apps[a];
        let body = Body::Token(Token {
            grant_type: grant.to_owned(),
            token_type: token_type.to_owned(),
            client_id: app.client_id.clone(),
            application_id: with_app.then_some(app.id),
            user_id,
        });
        self.event(o, ms, body)
    }

    fn session(&mut self, now: i64, late: bool) -> Event {
        if !self.sessions.is_empty() && self.rng.chance(0.3) {
            let k = self.rng.index(self.sessions.len());
            let s = self.sessions.swap_remove(k);
            let (o, u) = (s.org as usize, s.user as usize);
            if !self.orgs[o].users[u].deleted {
                // Never late: a revocation follows its creation.
                let ms = now.max(s.created_ms + 1);
                let app = self.orgs[o].apps[s.app as usize].id;
                let user_id = self.orgs[o].users[u].id;
                let body = Body::Session(Session {
                    action: SessionAction::Revoked,
                    session_id: s.id,
                    user_id,
                    expires_at: None,
                    application_id: Some(app),
                });
                return self.event(o, ms, body);
            }
        }
        let o = self.pick_org();
        let u = self.pick_user(o);
        if let Some(e) = self.ensure_user(o, u, now, late) {
            return e;
        }
        let a = self.pick_app(o, u);
        if let Some(e) = self.ensure_registered(o, u, a, now) {
            return e;
        }
        let created = self.orgs[o].users[u].created_ms;
        let ms = self.when(now, late, created);
        let ttl = self.rng.pick(&[
            (HOUR_MS, 25),
            (8 * HOUR_MS, 30),
            (DAY_MS, 25),
            (7 * DAY_MS, 15),
            (30 * DAY_MS, 5),
        ]);
        let id = format!("sess_{:016x}", hash(self.p.seed, TAG_SESSION, self.seq, 0));
        if self.sessions.len() >= OPEN_SESSIONS {
            let k = self.rng.index(self.sessions.len());
            self.sessions.swap_remove(k);
        }
        self.sessions.push(OpenSession {
            id: id.clone(),
            org: o as u32,
            user: u as u32,
            app: a as u32,
            created_ms: ms,
        });
        let body = Body::Session(Session {
            action: SessionAction::Created,
            session_id: id,
            user_id: self.orgs[o].users[u].id,
            expires_at: Some(ms_to_dt(ms + ttl)),
            application_id: self.rng.chance(0.95).then_some(self.orgs[o].apps[a].id),
        });
        self.event(o, ms, body)
    }

    fn registration_slot(&mut self, now: i64) -> Event {
        let o = self.pick_org();
        let n = self.orgs[o].users.len();
        let choice = self.rng.weighted(&[50, 30, 17, 3]);
        // Next never-created user, if any.
        let org = &mut self.orgs[o];
        while org.cursor < n && org.users[org.cursor].created_ms != i64::MIN {
            org.cursor += 1;
        }
        let uncreated = (org.cursor < n).then_some(org.cursor);
        match (choice, uncreated) {
            (0, Some(u)) => self.registration(o, u, now, RegistrationAction::UserCreated, None),
            (3, _) => {
                // A few deletions, of random less active users.
                let u = n / 10 + self.rng.index(n - n / 10);
                let user = &self.orgs[o].users[u];
                if user.deleted || self.orgs[o].deleted >= (n / 20).max(1) {
                    self.registration_slot_fallback(o, now)
                } else if user.created_ms == i64::MIN {
                    self.registration(o, u, now, RegistrationAction::UserCreated, None)
                } else {
                    self.registration(o, u, now, RegistrationAction::UserDeleted, None)
                }
            }
            (2, _) => {
                let u = self.pick_user(o);
                let user = &self.orgs[o].users[u];
                if user.deleted {
                    return self.registration_slot_fallback(o, now);
                }
                if user.created_ms == i64::MIN {
                    return self.registration(o, u, now, RegistrationAction::UserCreated, None);
                }
                let reg = user.reg;
                if reg == 0 {
                    let a = self.pick_app(o, u);
                    return self.registration(o, u, now, RegistrationAction::Registered, Some(a));
                }
                let apps: Vec<usize> = (0..64).filter(|a| reg & (1 << a) != 0).collect();
                let a = apps[self.rng.index(apps.len())];
                self.registration(o, u, now, RegistrationAction::Unregistered, Some(a))
            }
            _ => self.registration_slot_fallback(o, now),
        }
    }

    /// Registration churn: a random live user registers to an application
    /// they are not registered to, or, registered everywhere, leaves one;
    /// creates the user first if needed.
    fn registration_slot_fallback(&mut self, o: usize, now: i64) -> Event {
        let n = self.orgs[o].users.len();
        for _ in 0..8 {
            let u = self.rng.index(n);
            let user = &self.orgs[o].users[u];
            if user.deleted {
                continue;
            }
            if user.created_ms == i64::MIN {
                return self.registration(o, u, now, RegistrationAction::UserCreated, None);
            }
            let n_apps = self.orgs[o].apps.len();
            let start = self.rng.index(n_apps);
            let reg = user.reg;
            let free = (0..n_apps)
                .map(|k| (start + k) % n_apps)
                .find(|a| reg & (1 << a) == 0);
            return match free {
                Some(a) => self.registration(o, u, now, RegistrationAction::Registered, Some(a)),
                None => self.registration(o, u, now, RegistrationAction::Unregistered, Some(start)),
            };
        }
        // (Almost) everybody was deleted: a machine token instead.
        self.token(now, false)
    }

    fn audit_event(
        &mut self,
        o: usize,
        ms: i64,
        action: &str,
        entity: (&str, String),
        system: bool,
        metadata: Value,
    ) -> Event {
        let (actor_id, actor_email) = if system {
            (Some("system".to_owned()), None)
        } else {
            let admin = self.rng.index(self.orgs[o].users.len().min(3));
            (
                Some(self.orgs[o].users[admin].id.to_string()),
                Some(ids::login_id(&self.p, o, admin)),
            )
        };
        let metadata = match metadata {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let ip_seed = self.rng.next_u64() as u32;
        let ip_address = (!system).then(|| self.ip(ip_seed));
        let org_id = self.orgs[o].org.id.to_string();
        self.event(
            o,
            ms,
            Body::Audit(Audit {
                action: action.to_owned(),
                entity_type: entity.0.to_owned(),
                entity_id: entity.1,
                actor_id,
                actor_email,
                organization_id: Some(org_id),
                metadata,
                ip_address,
            }),
        )
    }

    fn bootstrap(&mut self, b: Boot, now: i64) -> Event {
        self.boot_end_ms = now;
        match b {
            Boot::Org(o) => {
                self.orgs[o].status = ST_ACTIVE;
                let (id, slug) = (self.orgs[o].org.id, self.orgs[o].org.slug.clone());
                self.audit_event(
                    o,
                    now,
                    "organization.created",
                    ("organization", id.to_string()),
                    false,
                    json!({ "slug": slug, "plan": "enterprise" }),
                )
            }
            Boot::App(o, a) => {
                let app = self.orgs[o].apps[a].clone();
                self.audit_event(
                    o,
                    now,
                    "application.created",
                    ("application", app.id.to_string()),
                    false,
                    json!({ "name": app.name }),
                )
            }
            Boot::Client(o, a) => {
                self.orgs[o].apps[a].client = ST_ACTIVE;
                let app = self.orgs[o].apps[a].clone();
                self.audit_event(
                    o,
                    now,
                    "client.created",
                    ("client", app.client_id),
                    false,
                    json!({ "application_id": app.id.to_string(), "grant_types": ["authorization_code", "refresh_token"] }),
                )
            }
        }
    }

    fn audit(&mut self, now: i64, late: bool) -> Event {
        let o = self.pick_org();
        let ms = self.when(now, late, i64::MIN);
        match self.rng.weighted(&[58, 8, 1, 6, 15, 12]) {
            0 => {
                let u = self.rng.index(self.orgs[o].users.len());
                let uid = self.orgs[o].users[u].id.to_string();
                let state = self.orgs[o].users[u].audit;
                let (action, next, system, meta) = match state {
                    ST_NONE if self.rng.chance(0.7) => (
                        "user.created",
                        ST_ACTIVE,
                        false,
                        json!({ "source": "admin" }),
                    ),
                    ST_NONE => (
                        "user.invited",
                        ST_INACTIVE,
                        false,
                        json!({ "invite_expires_hours": 72 }),
                    ),
                    ST_INACTIVE => ("user.activated", ST_ACTIVE, false, json!({})),
                    ST_SUSPENDED => ("user.activated", ST_ACTIVE, false, json!({})),
                    ST_LOCKED => ("user.unlocked", ST_ACTIVE, false, json!({})),
                    ST_ARCHIVED => (
                        "user.activated",
                        ST_ACTIVE,
                        false,
                        json!({ "restored": true }),
                    ),
                    _ => match self.rng.weighted(&[30, 20, 12, 15, 5]) {
                        0 => (
                            "user.login_failure",
                            ST_ACTIVE,
                            true,
                            json!({ "failed_attempts": self.rng.range(1, 4), "provider": "password" }),
                        ),
                        1 => (
                            "user.suspended",
                            ST_SUSPENDED,
                            false,
                            json!({ "reason": "policy_violation" }),
                        ),
                        2 => (
                            "user.locked",
                            ST_LOCKED,
                            false,
                            json!({ "reason": "admin_action" }),
                        ),
                        3 => (
                            "user.auto_locked",
                            ST_LOCKED,
                            true,
                            json!({ "reason": "too_many_failed_logins", "failed_attempts": 5, "lock_minutes": 30 }),
                        ),
                        _ => ("user.archived", ST_ARCHIVED, false, json!({})),
                    },
                };
                self.orgs[o].users[u].audit = next;
                self.audit_event(o, ms, action, ("user", uid), system, meta)
            }
            1 => {
                let a = self.rng.index(self.orgs[o].apps.len());
                let app = self.orgs[o].apps[a].clone();
                let (action, next) = match app.client {
                    ST_ACTIVE if self.rng.chance(0.9) => ("client.secret_generated", ST_ACTIVE),
                    ST_ACTIVE => ("client.revoked", ST_REVOKED),
                    _ => ("client.created", ST_ACTIVE),
                };
                self.orgs[o].apps[a].client = next;
                self.audit_event(
                    o,
                    ms,
                    action,
                    ("client", app.client_id),
                    false,
                    json!({ "application_id": app.id.to_string() }),
                )
            }
            2 => {
                let (action, next, meta) = match self.orgs[o].status {
                    ST_ACTIVE if self.rng.chance(0.85) => (
                        "organization.suspended",
                        ST_SUSPENDED,
                        json!({ "reason": "billing_overdue" }),
                    ),
                    ST_ACTIVE => ("organization.archived", ST_ARCHIVED, json!({})),
                    ST_NONE => ("organization.created", ST_ACTIVE, json!({})),
                    _ => ("organization.activated", ST_ACTIVE, json!({})),
                };
                self.orgs[o].status = next;
                let id = self.orgs[o].org.id.to_string();
                self.audit_event(o, ms, action, ("organization", id), false, meta)
            }
            3 => {
                self.orgs[o].roles += 1;
                let n = self.orgs[o].roles;
                let role = ROLES[n as usize % ROLES.len()];
                let id = format!("{}-role-{n}", self.orgs[o].org.slug);
                let permissions = self.rng.range(1, 40);
                self.audit_event(
                    o,
                    ms,
                    "role.created",
                    ("role", id),
                    false,
                    json!({ "name": format!("{role}-{n}"), "permissions": permissions }),
                )
            }
            4 => {
                let u = self.pick_user(o);
                let uid = self.orgs[o].users[u].id.to_string();
                let method = self
                    .rng
                    .pick(&[("totp", 70), ("webauthn", 20), ("sms", 10)]);
                self.audit_event(
                    o,
                    ms,
                    "security.2fa_enabled",
                    ("user", uid),
                    false,
                    json!({ "method": method }),
                )
            }
            _ => {
                let u = self.pick_user(o);
                let uid = self.orgs[o].users[u].id.to_string();
                let format = self.rng.pick(&[("json", 60), ("csv", 40)]);
                let records = self.rng.range(10, 5000);
                self.audit_event(
                    o,
                    ms,
                    "user.data_exported",
                    ("user", uid),
                    false,
                    json!({ "format": format, "gdpr": true, "records": records }),
                )
            }
        }
    }

    fn next_event(&mut self, now: i64) -> Event {
        if self.boot_pos < self.boot.len() {
            let b = self.boot[self.boot_pos];
            self.boot_pos += 1;
            return self.bootstrap(b, now);
        }
        let late = self.rng.chance(self.p.late_fraction);
        match self.rng.weighted(&[55, 25, 6, 9, 5]) {
            0 => self.login(now, late),
            1 => self.token(now, late),
            2 => self.registration_slot(now),
            3 => self.session(now, late),
            _ => self.audit(now, late),
        }
    }

    /// A valid event built from the stable identities, touching no state
    /// (the raw material of poison messages).
    fn sample_event(&mut self, now: i64, kind: usize) -> Event {
        let o = self.rng.index(self.orgs.len());
        let u = self.rng.index(self.orgs[o].users.len());
        let a = self.rng.index(self.orgs[o].apps.len());
        let app = self.orgs[o].apps[a].clone();
        let user = self.orgs[o].users[u].id;
        let body = match kind {
            0 => Body::Login(Login {
                success: true,
                failure_reason: None,
                user_id: Some(user),
                login_id: ids::login_id(&self.p, o, u),
                application_id: app.id,
                application_name: Some(app.name),
                provider: "password".to_owned(),
                ip: Some("203.0.113.7".to_owned()),
                user_agent: Some(USER_AGENTS[0].to_owned()),
                session_id: None,
            }),
            1 => Body::Registration(Registration {
                action: RegistrationAction::Registered,
                user_id: user,
                application_id: Some(app.id),
                application_name: Some(app.name),
            }),
            2 => Body::Token(Token {
                grant_type: "authorization_code".to_owned(),
                token_type: "access_token".to_owned(),
                client_id: app.client_id,
                application_id: Some(app.id),
                user_id: Some(user),
            }),
            3 => Body::Session(Session {
                action: SessionAction::Created,
                session_id: "sess_poison".to_owned(),
                user_id: user,
                expires_at: Some(ms_to_dt(now + HOUR_MS)),
                application_id: Some(app.id),
            }),
            _ => Body::Audit(Audit {
                action: "user.locked".to_owned(),
                entity_type: "user".to_owned(),
                entity_id: user.to_string(),
                actor_id: Some("system".to_owned()),
                actor_email: None,
                organization_id: Some(self.orgs[o].org.id.to_string()),
                metadata: Map::new(),
                ip_address: Some("198.51.100.23".to_owned()),
            }),
        };
        Event {
            id: uuid_of(self.p.seed, TAG_POISON, self.index, 0),
            occurred_at: ms_to_dt(now),
            org: self.orgs[o].org.clone(),
            body,
        }
    }

    fn poison(&mut self, now: i64) -> Message {
        let kind = self.rng.index(5);
        let base = self.sample_event(now, kind);
        let (payload, code) = poison::make(&mut self.rng, &base);
        Message {
            key: format!("poison-{}", self.index),
            payload,
            kind: MessageKind::Poison(code),
        }
    }
}

impl Iterator for Generator {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        if self.index >= self.p.events {
            return None;
        }
        let i = self.index;
        let u = (i as f64 + self.rng.f64()) / self.p.events as f64;
        let now = self.warp.at(u);
        let r = self.rng.f64();
        let msg = if r < self.p.poison_fraction {
            self.poison(now)
        } else if r < self.p.poison_fraction + self.p.duplicate_fraction && !self.recent.is_empty()
        {
            let k = self.rng.index(self.recent.len());
            let (key, payload, id) = self.recent[k].clone();
            Message {
                key,
                payload,
                kind: MessageKind::Duplicate(id),
            }
        } else {
            let event = self.next_event(now);
            let payload = to_json(&event);
            let key = event.id.to_string();
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent
                .push_back((key.clone(), payload.clone(), event.id));
            Message {
                key,
                payload,
                kind: MessageKind::Event(event),
            }
        };
        self.index += 1;
        Some(msg)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.p.events - self.index) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Generator {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_warp_is_monotone_and_in_span() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let w = TimeWarp::new(start, 10 * DAY_MS + 1234);
        let mut last = i64::MIN;
        for i in 0..10_000 {
            let t = w.at(i as f64 / 10_000.0);
            assert!(t >= last);
            assert!(t >= start.timestamp_millis());
            assert!(t < start.timestamp_millis() + 10 * DAY_MS + 1234);
            last = t;
        }
        assert_eq!(TimeWarp::new(start, 0).at(0.5), start.timestamp_millis());
    }
}
