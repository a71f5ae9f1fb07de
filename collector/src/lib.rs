//! # authpulse-collector
//!
//! Events straight from identity providers: HTTP endpoints (and a file
//! importer) that take FusionAuth webhooks, Keycloak user/admin events, Auth0
//! log-stream batches or authpulse contract events, map them to the contract
//! (`authpulse-schemas`, docs/events.md) and produce them to Kafka, answering
//! only after the broker acknowledged every event.
//!
//! * [`prepare`] turns one request body (or file chunk) into contract records
//!   and skipped items; it is pure and shared by `collect` and `import`.
//! * [`sources`] holds one mapping table per source.
//! * [`Sink`] produces a prepared batch with acks=all and waits for every ack.
//! * [`server`] is the axum app: auth per source, limits, metrics.

pub mod auth;
pub mod ids;
pub mod import;
pub mod orgs;
pub mod payload;
pub mod server;
pub mod sink;
pub mod sources;

pub use orgs::Orgs;
pub use payload::{prepare, BadInput, Prepared, Record, Skipped};
pub use sink::{Sink, SinkError, SinkOptions};

/// Where events come from; each has its own endpoint and mapping table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// authpulse's own contract (docs/events.md): validated, not mapped.
    Contract,
    FusionAuth,
    Keycloak,
    Auth0,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Contract,
        Source::FusionAuth,
        Source::Keycloak,
        Source::Auth0,
    ];

    /// The name used in URLs, metrics, ids and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Source::Contract => "contract",
            Source::FusionAuth => "fusionauth",
            Source::Keycloak => "keycloak",
            Source::Auth0 => "auth0",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.name() == s)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
