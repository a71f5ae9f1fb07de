//! Every hostile message kind of the attack suite is rejected by the parser
//! with exactly the reason the suite expects it dead-lettered with.

use authpulse_loadgen::{generate, hostile, MessageKind, Profile, HOSTILE_KINDS};

#[test]
fn every_hostile_kind_is_rejected_with_its_reason() {
    let p = Profile {
        events: 400,
        poison_fraction: 0.0,
        duplicate_fraction: 0.0,
        ..Profile::default()
    };
    let bases: Vec<_> = generate(&p)
        .filter_map(|m| match m.kind {
            MessageKind::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    for (i, base) in bases.iter().enumerate() {
        for (k, (name, code)) in HOSTILE_KINDS.iter().enumerate() {
            let bytes = hostile(i as u64 * 31 + k as u64, k, base);
            match authpulse_schemas::parse(&bytes) {
                Ok(_) => panic!("{name} accepted: {}", String::from_utf8_lossy(&bytes)),
                Err(e) => assert_eq!(e.code(), *code, "{name} ({}): {e}", base.body.kind()),
            }
        }
    }
}
