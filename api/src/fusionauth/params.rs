//! Parsing of the report query parameters into FusionAuth field errors.

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::{ApiError, Result};

/// The last instant a report can ask about (2105-12-31T23:59:59.999Z):
/// ClickHouse `DateTime` ends early in 2106 (api/openapi.json says so too).
pub const MAX_EPOCH_MS: i64 = 4_291_747_199_999;

/// `start` and `end` (epoch milliseconds, both required) and the optional
/// `applicationId`.
pub struct ReportParams {
    pub start: i64,
    pub end: i64,
    pub application_id: Option<Uuid>,
}

pub fn parse(q: &HashMap<String, String>) -> Result<ReportParams> {
    let start = millis(q, "start");
    let end = millis(q, "end");
    let app = match q
        .get("applicationId")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => Uuid::parse_str(s).map(Some).map_err(|_| {
            ApiError::field(
                "applicationId",
                "invalid",
                format!("applicationId [{s}] is not a valid UUID"),
            )
        }),
    };
    match (start, end, app) {
        (Ok(start), Ok(end), Ok(application_id)) => {
            if end < start {
                return Err(ApiError::field(
                    "end",
                    "invalid",
                    "end must not be before start",
                ));
            }
            Ok(ReportParams {
                start,
                end,
                application_id,
            })
        }
        (s, e, a) => {
            let errors = [s.err(), e.err(), a.err()].into_iter().flatten();
            Err(errors
                .reduce(ApiError::merge)
                .expect("at least one parameter failed"))
        }
    }
}

fn millis(q: &HashMap<String, String>, name: &str) -> Result<i64> {
    match q.get(name).map(|s| s.trim()) {
        None | Some("") => Err(ApiError::field(
            name,
            "missing",
            format!("{name} is required"),
        )),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|v| (0..=MAX_EPOCH_MS).contains(v))
            .ok_or_else(|| {
                ApiError::field(
                    name,
                    "invalid",
                    format!("{name} [{s}] is not epoch milliseconds in 0..={MAX_EPOCH_MS}"),
                )
            }),
    }
}

/// An optional UUID parameter.
pub fn uuid(q: &HashMap<String, String>, name: &str) -> Result<Option<Uuid>> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Uuid::parse_str(s).map(Some).map_err(|_| {
            ApiError::field(name, "invalid", format!("{name} [{s}] is not a valid UUID"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_bounded_to_what_clickhouse_stores() {
        let q = |s: &str, e: &str| {
            let m: HashMap<String, String> = [("start", s), ("end", e)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            parse(&m).map(|p| (p.start, p.end))
        };
        assert_eq!(q("0", "4291747199999").unwrap(), (0, MAX_EPOCH_MS));
        assert!(q("-1", "10").is_err());
        assert!(q("0", "4291747200000").is_err());
        assert!(q("0", "8210266876799999").is_err());
    }
}
