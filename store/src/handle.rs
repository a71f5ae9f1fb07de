//! The query layer's handle. Each product's queries are `impl Store` blocks
//! in that product's module (`fusionauth`, `janssen`, `orgs`, `porta`), with
//! their `.sql` files beside them.

use clickhouse::Client;

use crate::error::Result;

/// The query layer: a ClickHouse client bound to the authpulse database.
#[derive(Clone)]
pub struct Store {
    pub(crate) client: Client,
}

impl Store {
    pub fn new(client: Client) -> Store {
        Store { client }
    }

    /// Whether ClickHouse answers.
    pub async fn ping(&self) -> Result<()> {
        self.client.query("SELECT 1").fetch_one::<u8>().await?;
        Ok(())
    }
}
