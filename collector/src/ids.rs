//! Deterministic ids: the same source event always becomes the same contract
//! event `id`, so a webhook delivered twice or a file imported twice is
//! deduplicated by ingest (which drops a re-sent id, docs/delivery.md).

use uuid::Uuid;

/// The namespace of every UUIDv5 the collector derives.
pub fn namespace() -> Uuid {
    // Fixed forever: changing it would change every derived id.
    Uuid::from_u128(0x6a1f_37c2_5b0e_4d8a_9c41_2e7b_d0f3_a915)
}

/// UUIDv5 of `"{source}:{source_event_id}:{part}"`; `part` names the
/// contract event when one source event yields several (`login`,
/// `session`, `audit`, ...).
pub fn event_id(source: &str, source_event_id: &str, part: &str) -> Uuid {
    Uuid::new_v5(
        &namespace(),
        format!("{source}:{source_event_id}:{part}").as_bytes(),
    )
}

/// A source identifier (user, client, tenant) that must be a UUID in the
/// contract: kept when it already is one, else UUIDv5 of
/// `"{source}:{kind}:{value}"` (Auth0 `auth0|abc` user ids, Keycloak client
/// ids such as `account`).
pub fn as_uuid(source: &str, kind: &str, value: &str) -> Uuid {
    match Uuid::try_parse(value) {
        Ok(u) if value.len() == 36 => u,
        _ => Uuid::new_v5(&namespace(), format!("{source}:{kind}:{value}").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = event_id("fusionauth", "e1", "login");
        assert_eq!(a, event_id("fusionauth", "e1", "login"));
        assert_ne!(a, event_id("keycloak", "e1", "login"));
        assert_ne!(a, event_id("fusionauth", "e1", "session"));
        assert_eq!(a.get_version_num(), 5);
        let u = "c2a4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f";
        assert_eq!(as_uuid("auth0", "user", u).to_string(), u);
        assert_ne!(
            as_uuid("auth0", "user", "auth0|abc").to_string(),
            "auth0|abc"
        );
        // The simple (no hyphen) form is not kept: the contract rejects it.
        assert_ne!(
            as_uuid("auth0", "user", "c2a4e6f81b3d4f5a8c7e9d0b1a2c3e4f")
                .simple()
                .to_string(),
            "c2a4e6f81b3d4f5a8c7e9d0b1a2c3e4f"
        );
    }
}
