//! The one place where errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;

/// A FusionAuth-style error detail.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// The one error type of the API crate.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with FusionAuth's Errors JSON (`fieldErrors` / `generalErrors`).
    #[error("bad request")]
    BadRequest {
        field_errors: BTreeMap<String, Vec<ErrorDetail>>,
        general_errors: Vec<ErrorDetail>,
    },
    /// 401, empty body (FusionAuth: "The response will be empty").
    #[error("unauthorized")]
    Unauthorized,
    /// 403: authenticated, but lacking the permission or org membership.
    #[error("forbidden")]
    Forbidden,
    /// 404, empty body.
    #[error("not found")]
    NotFound,
    /// 400 in OAuth style (Janssen): `{"error": ..., "error_description": ...}`.
    #[error("{error}: {description}")]
    OAuth {
        error: &'static str,
        description: String,
    },
    /// 400 with `{"error": "<message>"}` (org analytics, Porta admin).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// 503 with `Retry-After`: the API's own admission bound was reached
    /// (api/src/overload.rs).
    #[error("overloaded")]
    Overloaded,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] authpulse_store::Error),
}

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: u64 = 1;

/// 503 for every product: `Retry-After` and `{"error": ...}` (docs/api.md).
fn unavailable(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(
            axum::http::header::RETRY_AFTER,
            RETRY_AFTER_SECS.to_string(),
        )],
        Json(serde_json::json!({ "error": reason })),
    )
        .into_response()
}

impl ApiError {
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> ApiError {
        let mut field_errors = BTreeMap::new();
        field_errors.insert(
            field.to_string(),
            vec![ErrorDetail {
                code: format!("[{code}]{field}"),
                message: message.into(),
            }],
        );
        ApiError::BadRequest {
            field_errors,
            general_errors: Vec::new(),
        }
    }

    /// Merges the field errors of `other` into `self` (both 400s).
    pub fn merge(self, other: ApiError) -> ApiError {
        match (self, other) {
            (
                ApiError::BadRequest {
                    mut field_errors,
                    mut general_errors,
                },
                ApiError::BadRequest {
                    field_errors: f2,
                    general_errors: g2,
                },
            ) => {
                for (k, mut v) in f2 {
                    field_errors.entry(k).or_default().append(&mut v);
                }
                general_errors.extend(g2);
                ApiError::BadRequest {
                    field_errors,
                    general_errors,
                }
            }
            (a, _) => a,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorsBody<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    field_errors: &'a BTreeMap<String, Vec<ErrorDetail>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    general_errors: &'a [ErrorDetail],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::BadRequest {
                field_errors,
                general_errors,
            } => (
                StatusCode::BAD_REQUEST,
                Json(ErrorsBody {
                    field_errors,
                    general_errors,
                }),
            )
                .into_response(),
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
            ApiError::Forbidden => StatusCode::FORBIDDEN.into_response(),
            ApiError::OAuth { error, description } => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": error, "error_description": description })),
            )
                .into_response(),
            ApiError::NotFound => StatusCode::NOT_FOUND.into_response(),
            ApiError::Invalid(message) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": message })),
            )
                .into_response(),
            ApiError::Store(authpulse_store::Error::InvalidArgument(msg)) => {
                let general = vec![ErrorDetail {
                    code: "[invalid]request".into(),
                    message: msg.clone(),
                }];
                (
                    StatusCode::BAD_REQUEST,
                    Json(ErrorsBody {
                        field_errors: &BTreeMap::new(),
                        general_errors: &general,
                    }),
                )
                    .into_response()
            }
            ApiError::Store(authpulse_store::Error::Unsupported(msg)) => (
                StatusCode::NOT_IMPLEMENTED,
                Json(serde_json::json!({ "error": msg })),
            )
                .into_response(),
            ApiError::Overloaded => unavailable("overloaded, retry later"),
            ApiError::Store(e) if e.is_overloaded() => {
                tracing::warn!(error = %e, "store overloaded");
                unavailable("overloaded, retry later")
            }
            ApiError::Store(e) if e.is_unavailable() => {
                tracing::error!(error = %e, "store unavailable");
                unavailable("store unavailable, retry later")
            }
            ApiError::Store(e) => {
                // Logged with detail; the client sees no internals.
                tracing::error!(error = %e, "store error");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(e: ApiError) -> (StatusCode, Option<String>, String) {
        let r = e.into_response();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, retry, String::from_utf8(body.to_vec()).unwrap())
    }

    /// ClickHouse refusing for capacity is a 503 with Retry-After, not a 500.
    #[tokio::test]
    async fn overload_and_outage_are_503_with_retry_after() {
        let too_many = authpulse_store::Error::ClickHouse(
            clickhouse::error::Error::BadResponse(
                "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES)".into(),
            ),
        );
        for e in [
            ApiError::Overloaded,
            ApiError::Store(too_many),
            ApiError::Store(authpulse_store::Error::ClickHouse(
                clickhouse::error::Error::TimedOut,
            )),
        ] {
            let (status, retry, body) = parts(e).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(retry.as_deref(), Some("1"));
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["error"].is_string(), "{body}");
        }
        let other = ApiError::Store(authpulse_store::Error::ClickHouse(
            clickhouse::error::Error::BadResponse("Code: 60. (UNKNOWN_TABLE)".into()),
        ));
        let (status, retry, body) = parts(other).await;
        assert_eq!(
            (status, retry, body.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, None, "")
        );
    }
}
