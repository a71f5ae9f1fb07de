//! The test kit that tests/ (through tests/common) and the benchmark
//! (bench/) share: ClickHouse and broker servers started by the repo's
//! deploy/local scripts, free ports, topics, producing load-generator
//! streams fast, view refresh, rollup sums and the oracle's expected
//! figures. Not part of the shipped binary.

pub mod clickhouse;
pub mod kafka;
pub mod pipeline;
pub mod shards;
pub mod stack;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::clickhouse::{
    assert_sketch_close, expected_rollups, refresh_views, rollup_sums, wait_idle, TYPES,
};
pub use crate::kafka::{create_topic, produce, Produced, Sender};
pub use crate::shards::Shards;
pub use crate::stack::{group_protocol, terminate, wait_exit, Stack};

/// The repository root (deploy/local scripts live under it).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ sits in the repository root")
        .to_path_buf()
}

/// A port nothing listens on right now (the OS picks it), and that this
/// process has not handed out before: the listener is closed on return,
/// so the OS may offer the same port again before its first taker binds it
/// (a stack's ClickHouse and broker once got the same one).
pub fn try_free_port() -> std::io::Result<u16> {
    static GIVEN: std::sync::Mutex<Option<std::collections::HashSet<u16>>> =
        std::sync::Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(Default::default);
    // Held until a new port is found, so the OS can't offer these again.
    let mut held = Vec::new();
    loop {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        if given.insert(port) {
            return Ok(port);
        }
        held.push(l);
    }
}

/// [`try_free_port`] for tests, where failing to bind loopback is fatal.
pub fn free_port() -> u16 {
    try_free_port().expect("binding 127.0.0.1:0")
}

/// The `authpulse` binary next to the running executable: cargo puts the
/// package's binaries in the target dir an integration test (…/deps/) or
/// the bench binary runs from. AUTHPULSE_BIN overrides it.
pub fn authpulse_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("AUTHPULSE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("authpulse{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        bin.is_file(),
        "no authpulse binary at {} (build it: cargo build --bin authpulse, or set AUTHPULSE_BIN)",
        bin.display()
    );
    Ok(bin)
}

/// Runs `fut` to completion from synchronous code (tests), on a thread of
/// its own so that it works whether or not the caller is inside a runtime.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime")
                .block_on(fut)
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Polls `f` until it returns Some or `limit` passes.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
