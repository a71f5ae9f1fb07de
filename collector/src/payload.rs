//! One request body (or one chunk of an import file) → contract records to
//! produce and source events skipped. Pure: no I/O, shared by the HTTP
//! endpoints and `authpulse import`.
//!
//! A body is one JSON value (an object, or an array of objects) or a
//! sequence of whitespace-separated values (NDJSON / JSON lines, as Auth0's
//! JSONLINES format sends them).

use serde_json::value::RawValue;
use serde_json::Value;

use crate::sources::{self, Mapped};
use crate::{Orgs, Source};

/// A contract event ready to produce: key = payload's `id`.
#[derive(Clone, Debug)]
pub struct Record {
    pub key: String,
    pub payload: Vec<u8>,
    /// Contract type (`login`, ...).
    pub kind: &'static str,
}

/// A well-formed source event that produced no contract event; it is
/// acknowledged, counted and sent to the dead-letter topic.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// Position of the source event in the body.
    pub index: usize,
    /// The source's own type (`user.action`, `UPDATE_PROFILE`, `sapi`).
    pub source_type: String,
    /// `unmapped_type` or `invalid_mapped_event`.
    pub reason: &'static str,
    pub detail: String,
    /// The source event as received.
    pub raw: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub struct Prepared {
    pub records: Vec<Record>,
    pub skipped: Vec<Skipped>,
    /// Source events in the body.
    pub items: usize,
}

/// Input that is not what the endpoint takes: the whole request is refused
/// (400, or 413 for too many events) and nothing is produced.
#[derive(Clone, Debug, PartialEq)]
pub struct BadInput {
    /// Index of the offending event, when one is to blame.
    pub index: Option<usize>,
    /// Machine-readable: `malformed_json`, `not_<source>_event`,
    /// `too_many_events`, `empty_body`, or a contract reason code.
    pub code: String,
    pub detail: String,
}

impl BadInput {
    fn new(index: Option<usize>, code: impl Into<String>, detail: impl Into<String>) -> BadInput {
        BadInput {
            index,
            code: code.into(),
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "event {i}: {}: {}", self.code, self.detail),
            None => write!(f, "{}: {}", self.code, self.detail),
        }
    }
}

/// Splits a body into its events (raw JSON texts).
pub fn split(body: &[u8], max_events: usize) -> Result<Vec<&RawValue>, BadInput> {
    let mut values = Vec::new();
    for v in serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>() {
        let v = v.map_err(|e| BadInput::new(None, "malformed_json", e.to_string()))?;
        values.push(v);
        if values.len() > max_events {
            break;
        }
    }
    if values.is_empty() {
        return Err(BadInput::new(None, "empty_body", "the body holds no event"));
    }
    if values.len() == 1 && values[0].get().starts_with('[') {
        values = serde_json::from_str::<Vec<&RawValue>>(values[0].get())
            .map_err(|e| BadInput::new(None, "malformed_json", e.to_string()))?;
    }
    if values.len() > max_events {
        return Err(BadInput::new(
            None,
            "too_many_events",
            format!("more than {max_events} events in one request"),
        ));
    }
    Ok(values)
}

/// Validates (contract) or maps (vendor sources) every event of a body.
pub fn prepare(
    source: Source,
    body: &[u8],
    orgs: &Orgs,
    max_events: usize,
) -> Result<Prepared, BadInput> {
    let items = split(body, max_events)?;
    prepare_items(source, &items, 0, orgs)
}

/// [`prepare`] for events already split; `first_index` numbers them.
pub fn prepare_items(
    source: Source,
    items: &[&RawValue],
    first_index: usize,
    orgs: &Orgs,
) -> Result<Prepared, BadInput> {
    let mut out = Prepared {
        items: items.len(),
        ..Prepared::default()
    };
    for (i, raw) in items.iter().enumerate() {
        let index = first_index + i;
        if source == Source::Contract {
            let event = authpulse_schemas::parse(raw.get().as_bytes())
                .map_err(|e| BadInput::new(Some(index), e.code(), e.to_string()))?;
            out.records.push(record(&event));
            continue;
        }
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|e| BadInput::new(Some(index), "malformed_json", e.to_string()))?;
        let (source_type, mapped) = sources::map(source, &value, orgs).map_err(|why| {
            BadInput::new(Some(index), format!("not_{}_event", source.name()), why)
        })?;
        let skip = |reason, detail| Skipped {
            index,
            source_type: source_type.clone(),
            reason,
            detail,
            raw: raw.get().as_bytes().to_vec(),
        };
        match mapped {
            Mapped::Skip(detail) => out.skipped.push(skip("unmapped_type", detail)),
            Mapped::Events(events) => {
                for e in events {
                    let bytes = serde_json::to_vec(&e).unwrap_or_default();
                    match authpulse_schemas::parse(&bytes) {
                        Ok(event) => out.records.push(record(&event)),
                        // The source event is well formed but lacks what the
                        // contract needs (e.g. a login with no login id):
                        // retrying cannot fix it, so it is acknowledged and
                        // dead-lettered rather than refused.
                        Err(err) => out.skipped.push(skip(
                            "invalid_mapped_event",
                            format!("{}: {err}", e["type"].as_str().unwrap_or("?")),
                        )),
                    }
                }
            }
        }
    }
    Ok(out)
}

fn record(event: &authpulse_schemas::Event) -> Record {
    Record {
        key: event.id.to_string(),
        payload: authpulse_schemas::to_json(event),
        kind: event.body.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"{"id":"e1f3a5c7-9b0d-4e2f-8a4c-6b8d0f2a4c6e","type":"token","occurred_at":"2026-03-08T08:30:02Z","org":{"id":"7f3e2a10-5b4c-4d8e-9f01-23456789abcd","slug":"acme"},"data":{"grant_type":"refresh_token","token_type":"access_token","client_id":"web"}}"#;

    #[test]
    fn array_ndjson_and_single_object() {
        let orgs = Orgs::default();
        for body in [
            EV.to_string(),
            format!("[{EV},{EV}]"),
            format!("{EV}\n{EV}\n{EV}\n"),
        ] {
            let p = prepare(Source::Contract, body.as_bytes(), &orgs, 10).unwrap();
            assert_eq!(p.records.len(), p.items);
            assert!(p.items >= 1);
        }
    }

    #[test]
    fn refusals_name_the_event_and_reason() {
        let orgs = Orgs::default();
        let bad = EV.replace("access_token", "bogus");
        let e = prepare(
            Source::Contract,
            format!("[{EV},{bad}]").as_bytes(),
            &orgs,
            10,
        )
        .unwrap_err();
        assert_eq!((e.index, e.code.as_str()), (Some(1), "contract_violation"));
        let e = prepare(Source::Contract, &EV.as_bytes()[..40], &orgs, 10).unwrap_err();
        assert_eq!(e.code, "malformed_json");
        let e = prepare(Source::Contract, b"  \n", &orgs, 10).unwrap_err();
        assert_eq!(e.code, "empty_body");
        let many = format!("[{EV},{EV},{EV}]");
        let e = prepare(Source::Contract, many.as_bytes(), &orgs, 2).unwrap_err();
        assert_eq!(e.code, "too_many_events");
        let e = prepare(
            Source::Contract,
            format!("{EV}\n{EV}\n{EV}").as_bytes(),
            &orgs,
            2,
        )
        .unwrap_err();
        assert_eq!(e.code, "too_many_events");
        let e = prepare(Source::Auth0, br#"{"hello":1}"#, &orgs, 2).unwrap_err();
        assert_eq!((e.index, e.code.as_str()), (Some(0), "not_auth0_event"));
    }
}
