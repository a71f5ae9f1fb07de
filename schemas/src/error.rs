/// Why a message was rejected.
///
/// [`ContractError::code`] is a stable, machine-readable reason stored in the
/// dead-letter table; the `Display` text is for humans and may change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The raw message is larger than [`crate::MAX_EVENT_BYTES`].
    #[error("message is {size} bytes, larger than the maximum of {max} bytes")]
    Oversized { size: usize, max: usize },
    /// Not UTF-8, not JSON, truncated, or trailing garbage.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// Well-formed envelope whose `type` is not one of [`crate::EVENT_TYPES`].
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// Valid JSON that breaks the contract; the message names the field
    /// (`data.failure_reason: required when success is false`).
    #[error("contract violation: {0}")]
    Violation(String),
    /// A well-formed timestamp outside [`crate::MIN_EVENT_TIME`,
    /// `crate::MAX_EVENT_TIME`): the store cannot hold it exactly.
    #[error("timestamp out of range: {0}")]
    OutOfRange(String),
}

impl ContractError {
    /// Stable reason code: `oversized`, `malformed_json`, `unknown_type` or
    /// `contract_violation` or `timestamp_out_of_range`.
    pub fn code(&self) -> &'static str {
        match self {
            ContractError::Oversized { .. } => "oversized",
            ContractError::MalformedJson(_) => "malformed_json",
            ContractError::UnknownType(_) => "unknown_type",
            ContractError::Violation(_) => "contract_violation",
            ContractError::OutOfRange(_) => "timestamp_out_of_range",
        }
    }

    /// Every code [`ContractError::code`] can return.
    pub const CODES: [&'static str; 5] = [
        "oversized",
        "malformed_json",
        "unknown_type",
        "contract_violation",
        "timestamp_out_of_range",
    ];
}
