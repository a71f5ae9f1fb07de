//! The `dead_letters` table: a store group's dead letters, inserted with
//! the group's token, each recorded once.

use std::collections::HashSet;

use clickhouse::{Client, Row};
use serde::Deserialize;

use super::DeadLetterRow;
use crate::error::Result;
use crate::sink::group::GroupId;

pub(crate) const TABLE: &str = "dead_letters";

/// Inserts the group's dead letters, without those already recorded at the
/// same topic/partition/offset (by an operator replay or another consumer
/// group reading the same messages). A re-formed group finds its own rows
/// only if their single insert landed, and then inserts nothing — the same
/// outcome as its token.
pub(crate) async fn insert(
    client: &Client,
    group: &GroupId,
    token: String,
    rows: impl Iterator<Item = &DeadLetterRow>,
) -> Result<()> {
    let rows: Vec<&DeadLetterRow> = rows.collect();
    if rows.is_empty() {
        return Ok(());
    }
    #[derive(Row, Deserialize)]
    struct Pos {
        topic: String,
        partition: u32,
        offset: u64,
    }
    let sql = format!(
        "SELECT topic, partition, offset FROM {TABLE} WHERE {}",
        group.positions()
    );
    let recorded: HashSet<(String, u32, u64)> = group
        .bind(client.query(&sql))
        .fetch_all::<Pos>()
        .await?
        .into_iter()
        .map(|p| (p.topic, p.partition, p.offset))
        .collect();
    let rows = not_recorded(rows, &recorded);
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client
        .insert::<DeadLetterRow>(TABLE)
        .await?
        .with_setting("insert_deduplication_token", token);
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    Ok(())
}

/// The rows whose position has no `dead_letters` row yet.
fn not_recorded<'a>(
    rows: Vec<&'a DeadLetterRow>,
    recorded: &HashSet<(String, u32, u64)>,
) -> Vec<&'a DeadLetterRow> {
    rows.into_iter()
        .filter(|r| {
            let (topic, partition, offset) = r.position();
            !recorded.contains(&(topic.to_string(), partition, offset))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_already_recorded_is_not_recorded_again() {
        let row = |p: i32, o: i64| {
            DeadLetterRow::new(("t", p), o, "malformed_json", String::new(), vec![], vec![])
        };
        let rows = [row(0, 5), row(0, 6), row(1, 5)];
        let recorded: HashSet<(String, u32, u64)> = [("t".to_string(), 0, 5)].into();
        let left = not_recorded(rows.iter().collect(), &recorded);
        assert_eq!(left, vec![&rows[1], &rows[2]]);
    }
}
