//! Parsing of the report query parameters into FusionAuth field errors.

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::{ApiError, Result};

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
            .filter(|v| chrono::DateTime::from_timestamp_millis(*v).is_some())
            .ok_or_else(|| {
                ApiError::field(
                    name,
                    "invalid",
                    format!("{name} [{s}] is not epoch milliseconds"),
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
