//! `authpulse import`: a backfill file through the same mapping and ids as
//! the HTTP endpoints, so importing a file twice (or a file overlapping
//! what webhooks already delivered) counts nothing twice.
//!
//! A file is either one JSON array (the vendors' export shapes: Keycloak's
//! `GET /admin/realms/{realm}/events`, Auth0's `GET /api/v2/logs`) or
//! newline-delimited JSON (one event or webhook body per line).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::payload::{prepare_items, split};
use crate::{Orgs, Sink, Source};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportStats {
    /// Source events read.
    pub items: u64,
    /// Contract events produced (acknowledged).
    pub produced: u64,
    /// Source events skipped (dead-lettered).
    pub skipped: u64,
}

/// Events per produce round trip.
pub const CHUNK: usize = 2_000;

/// Imports `path`; `progress(bytes_done, stats)` is called after each chunk.
/// Stops at the first record that is not an event of `source`, naming it;
/// everything before it is produced, and a re-run after the fix is safe.
pub async fn import_file(
    source: Source,
    path: &Path,
    sink: &Sink,
    orgs: &Orgs,
    mut progress: impl FnMut(u64, &ImportStats),
) -> Result<ImportStats, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut stats = ImportStats::default();
    let starts_with_array = {
        let buf = reader.fill_buf().map_err(|e| e.to_string())?;
        buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
    };
    if starts_with_array {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).map_err(|e| e.to_string())?;
        let items = split(&all, usize::MAX).map_err(|e| e.to_string())?;
        for (n, chunk) in items.chunks(CHUNK).enumerate() {
            send(source, chunk, n * CHUNK, sink, orgs, &mut stats).await?;
            let done = chunk.last().map_or(0, |c| offset_in(&all, c.get()));
            progress(done, &stats);
        }
        return Ok(stats);
    }
    let (mut buf, mut lines, mut first, mut done) = (Vec::new(), 0usize, 0usize, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        done += n as u64;
        if n > 0 && line.iter().any(|b| !b.is_ascii_whitespace()) {
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            lines += 1;
        }
        if (n == 0 && lines > 0) || lines == CHUNK {
            let items = split(&buf, usize::MAX)
                .map_err(|e| format!("records {first}..{}: {e}", first + lines))?;
            send(source, &items, first, sink, orgs, &mut stats).await?;
            progress(done, &stats);
            first += lines;
            buf.clear();
            lines = 0;
        }
        if n == 0 {
            break;
        }
    }
    Ok(stats)
}

async fn send(
    source: Source,
    items: &[&serde_json::value::RawValue],
    first: usize,
    sink: &Sink,
    orgs: &Orgs,
    stats: &mut ImportStats,
) -> Result<(), String> {
    let p = prepare_items(source, items, first, orgs).map_err(|e| format!("record {e}"))?;
    // Retries a chunk whose deliveries failed (broker restarting): ids are
    // stable, so a record delivered by the failed attempt is deduplicated.
    let mut attempt = 0;
    loop {
        match sink.send(source, &p, true).await {
            Ok(()) => break,
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "chunk not acknowledged; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    stats.items += p.items as u64;
    stats.produced += p.records.len() as u64;
    stats.skipped += p.skipped.len() as u64;
    Ok(())
}

fn offset_in(all: &[u8], part: &str) -> u64 {
    (part.as_ptr() as usize - all.as_ptr() as usize + part.len()) as u64
}
