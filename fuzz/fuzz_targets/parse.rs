//! The event parser on arbitrary bytes: it must never panic, and every
//! input either decodes into an event — which re-encodes to the contract's
//! wire format and parses back to the same event, inside the accepted time
//! range — or is rejected with one of the typed reason codes.
#![no_main]

use authpulse_schemas::{parse, to_json, ContractError, MAX_EVENT_TIME, MIN_EVENT_TIME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(event) => {
            let t = event.occurred_at.timestamp();
            assert!((MIN_EVENT_TIME..MAX_EVENT_TIME).contains(&t), "{t}");
            let wire = to_json(&event);
            let again = parse(&wire).expect("to_json output parses");
            assert_eq!(again, event);
        }
        Err(e) => {
            assert!(ContractError::CODES.contains(&e.code()), "{}", e.code());
            assert!(!e.to_string().is_empty());
        }
    }
});
