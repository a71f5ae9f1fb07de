//! Audit-action helpers (hand-written instead of pulling in `regex`).

/// Status the audited entity is in after `action`, for lifecycle actions.
///
/// The action is `<entity>.<suffix>` (e.g. `user.auto_locked`); only the
/// suffix after the first dot is looked at, and it must match the table
/// exactly (so `user.role.revoked` is *not* a lifecycle action of the user):
///
/// | suffix | status |
/// |---|---|
/// | `created`, `activated`, `unlocked`, `auto_unlocked` | `active` |
/// | `suspended` | `suspended` |
/// | `archived` | `archived` |
/// | `locked`, `auto_locked` | `locked` |
/// | `revoked` | `revoked` |
/// | `invited` | `inactive` |
/// | `data_purged` | `deleted` |
///
/// Anything else (`updated`, `login_success`, `role_assigned`, an action
/// without a dot, ...) returns `None`.
pub fn entity_status(action: &str) -> Option<&'static str> {
    let (_entity, suffix) = action.split_once('.')?;
    Some(match suffix {
        "created" | "activated" | "unlocked" | "auto_unlocked" => "active",
        "suspended" => "suspended",
        "archived" => "archived",
        "locked" | "auto_locked" => "locked",
        "revoked" => "revoked",
        "invited" => "inactive",
        "data_purged" => "deleted",
        _ => return None,
    })
}

/// `^[a-z0-9_]+(\.[a-z0-9_]+)+$`
pub(crate) fn is_valid_action(action: &str) -> bool {
    let mut segments = 0usize;
    for seg in action.split('.') {
        if seg.is_empty() || !seg.bytes().all(is_action_byte) {
            return false;
        }
        segments += 1;
    }
    segments >= 2
}

fn is_action_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// A "lowercase word": `^[a-z][a-z0-9_]*$` (`user`, `api_key`, ...).
pub(crate) fn is_valid_entity_type(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase()) && bytes.all(is_action_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_pattern() {
        for ok in [
            "organization.created",
            "user.login_failure",
            "security.2fa_enabled",
            "a.b.c",
            "0.1",
            "_._",
        ] {
            assert!(is_valid_action(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "user",
            "user.",
            ".user",
            "user..created",
            "User.created",
            "user.created ",
            "user-x.created",
            "user.créé",
            "user.created\n",
        ] {
            assert!(!is_valid_action(bad), "{bad:?}");
        }
    }

    #[test]
    fn entity_type_pattern() {
        for ok in ["user", "organization", "api_key", "role2"] {
            assert!(is_valid_entity_type(ok), "{ok}");
        }
        for bad in ["", "User", "2fa", "_x", "api-key", "a b"] {
            assert!(!is_valid_entity_type(bad), "{bad:?}");
        }
    }
}
