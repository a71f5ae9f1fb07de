//! Stable, seed-derived identities: organizations, applications (and their
//! OAuth client ids) and users. They depend only on `Profile::seed` and the
//! indices, never on the stream length, so tests can reference them.

use uuid::Uuid;

use crate::rng::{hash, uuid_of};
use crate::Profile;

pub(crate) const TAG_ORG: u64 = 1;
pub(crate) const TAG_APP: u64 = 2;
pub(crate) const TAG_USER: u64 = 3;

/// Hard cap on applications per organization (registrations are tracked in a
/// 64-bit mask per user).
pub const MAX_APPS_PER_ORG: u32 = 64;

const ORG_NAMES: [&str; 16] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "soylent",
    "tyrell",
    "aperture",
    "oscorp",
    "vandelay",
    "dunder",
    "piedpiper",
];

const APP_NAMES: [&str; 10] = [
    "Portal",
    "Mobile App",
    "Admin Console",
    "API Gateway",
    "TV App",
    "Partner Hub",
    "Checkout",
    "Support Desk",
    "Analytics",
    "Billing",
];

const FIRST: [&str; 16] = [
    "jane", "john", "maria", "wei", "aisha", "carlos", "olga", "raj", "emma", "liam", "noah",
    "yuki", "fatima", "lucas", "sofia", "omar",
];
const LAST: [&str; 16] = [
    "doe", "smith", "garcia", "chen", "khan", "silva", "ivanova", "patel", "muller", "brown",
    "kim", "tanaka", "hassan", "rossi", "novak", "jones",
];

pub(crate) fn orgs_len(p: &Profile) -> usize {
    p.orgs.max(1) as usize
}

pub(crate) fn apps_len(p: &Profile) -> usize {
    p.apps_per_org.clamp(1, MAX_APPS_PER_ORG) as usize
}

pub(crate) fn users_len(p: &Profile) -> usize {
    p.users_per_org.max(1) as usize
}

/// Organization slug for index `i` (`acme`, `globex`, ..., then `acme-2`, ...).
pub fn org_slug(i: usize) -> String {
    let base = ORG_NAMES[i % ORG_NAMES.len()];
    match i / ORG_NAMES.len() {
        0 => base.to_owned(),
        n => format!("{base}-{}", n + 1),
    }
}

/// `(org id, slug)` for every organization of the profile (at least one).
pub fn org_ids(p: &Profile) -> Vec<(Uuid, String)> {
    (0..orgs_len(p))
        .map(|i| (uuid_of(p.seed, TAG_ORG, i as u64, 0), org_slug(i)))
        .collect()
}

fn title(slug: &str) -> String {
    let mut c = slug.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn app_base(a: usize) -> (String, String) {
    let base = APP_NAMES[a % APP_NAMES.len()];
    let suffix = a / APP_NAMES.len();
    let slug = base.to_lowercase().replace(' ', "-");
    if suffix == 0 {
        (base.to_owned(), slug)
    } else {
        (
            format!("{base} {}", suffix + 1),
            format!("{slug}-{}", suffix + 1),
        )
    }
}

/// `(application id, name)` for every application of organization
/// `org_index` (e.g. "Acme Portal"). At most [`MAX_APPS_PER_ORG`].
pub fn app_ids(p: &Profile, org_index: usize) -> Vec<(Uuid, String)> {
    let slug = org_slug(org_index);
    (0..apps_len(p))
        .map(|a| {
            (
                uuid_of(p.seed, TAG_APP, org_index as u64, a as u64),
                format!("{} {}", title(&slug), app_base(a).0),
            )
        })
        .collect()
}

/// OAuth `client_id` of application `app_index` of organization `org_index`
/// (e.g. `acme-portal`).
pub fn client_id(org_index: usize, app_index: usize) -> String {
    format!("{}-{}", org_slug(org_index), app_base(app_index).1)
}

/// Id of user `user_index` (0 = the most active, Zipf rank order) of
/// organization `org_index`.
pub fn user_id(p: &Profile, org_index: usize, user_index: usize) -> Uuid {
    uuid_of(p.seed, TAG_USER, org_index as u64, user_index as u64)
}

/// Login id (email) of user `user_index` of organization `org_index`,
/// e.g. `jane.doe17@acme.example`.
pub fn login_id(p: &Profile, org_index: usize, user_index: usize) -> String {
    let h = hash(p.seed, TAG_USER + 100, org_index as u64, user_index as u64);
    format!(
        "{}.{}{}@{}.example",
        FIRST[(h & 15) as usize],
        LAST[((h >> 8) & 15) as usize],
        user_index,
        org_slug(org_index)
    )
}
