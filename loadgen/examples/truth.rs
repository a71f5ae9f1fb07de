//! Generate a stream without sending it, print stream statistics and write
//! the oracle's truth file.
//!
//! `cargo run --release -p authpulse-loadgen --example truth -- [events] [seed] [truth.json]`

use std::time::Instant;

use authpulse_loadgen::{generate, Oracle, Profile};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let events = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let out = args.next().unwrap_or_else(|| "truth.json".into());
    let profile = Profile {
        events,
        seed,
        ..Profile::default()
    };
    let started = Instant::now();
    let mut oracle = Oracle::new();
    let mut bytes = 0usize;
    for m in generate(&profile) {
        bytes += m.payload.len();
        oracle.observe(&m);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{events} messages, {bytes} bytes in {secs:.2}s ({:.0} msg/s)",
        events as f64 / secs
    );
    println!(
        "valid {} duplicates {}",
        oracle.valid_events(),
        oracle.duplicates()
    );
    println!("by type {:?}", oracle.events_by_type());
    println!("poison {:?}", oracle.poison_by_reason());
    oracle.write_truth(&out)?;
    println!("truth written to {out}");
    Ok(())
}
