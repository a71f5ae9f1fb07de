//! The API under load against a real ClickHouse (`authpulse api` as a
//! process): overload is a 503 with `Retry-After`, never a 500 — both when
//! the API's own admission bound is reached and when ClickHouse itself
//! refuses queries (TOO_MANY_SIMULTANEOUS_QUERIES) — and identical report
//! requests in flight share their ClickHouse queries (counted by
//! ClickHouse's own `SelectQuery` event counter).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::pipeline::start_stack;
use common::{eventually, free_port, Stack};

const KEY: &str = "overload-e2e-key";

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// One HTTP/1.1 request on its own connection (threads released together
/// by a barrier need no client library and no process per request).
fn get(addr: &str, path: &str) -> Answer {
    let Ok(mut s) = TcpStream::connect(addr) else {
        // Not listening (yet): status 0.
        return Answer {
            status: 0,
            retry_after: None,
            body: String::new(),
        };
    };
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {KEY}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let retry_after = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("retry-after")
            .then(|| v.trim().to_string())
    });
    Answer {
        status,
        retry_after,
        body: body.to_string(),
    }
}

/// `n` requests released at once; paths from `path(i)`.
fn burst(addr: &str, n: usize, path: impl Fn(usize) -> String) -> Vec<Answer> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, addr, path) = (barrier.clone(), addr.to_string(), path(i));
            std::thread::spawn(move || {
                barrier.wait();
                get(&addr, &path)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn start_api(stack: &mut Stack, name: &str, limits: &[(&str, &str)]) -> String {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut env = vec![("AUTHPULSE_API_KEYS", KEY)];
    env.extend_from_slice(limits);
    stack.spawn_env(&["api", "--listen", &addr], name, &env);
    let up = eventually(Duration::from_secs(60), || {
        (get(&addr, "/jans-auth/sys/health-check").status == 200).then_some(())
    });
    assert!(up.is_some(), "api did not start:\n{}", stack.log(name));
    addr
}

fn assert_overload_answer(a: &Answer, what: &str) {
    assert_eq!(a.retry_after.as_deref(), Some("1"), "{what}: {}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body)
        .unwrap_or_else(|e| panic!("{what}: 503 body is not JSON ({e}): {}", a.body));
    assert!(v["error"].is_string(), "{what}: {}", a.body);
}

#[test]
fn overload_is_503_with_retry_after_and_identical_requests_share_queries() {
    let mut stack = start_stack("overload", 1, "UTC");
    let now = chrono::Utc::now().timestamp_millis();

    // 1. The API's own bound: 2 at a time, 4 waiting at most 300 ms.
    let tight = start_api(
        &mut stack,
        "api-tight.log",
        &[
            ("AUTHPULSE_MAX_STORE_REQUESTS", "2"),
            ("AUTHPULSE_STORE_QUEUE", "4"),
            ("AUTHPULSE_STORE_WAIT_MS", "300"),
        ],
    );
    // Distinct requests (a different application each, so neither the
    // report cache's per-filter span nor coalescing serves them together).
    let answers = burst(&tight, 80, |i| {
        format!(
            "/api/report/login?applicationId=00000000-0000-4000-8000-{i:012}&start={}&end={now}",
            now - 86_400_000 - i as i64
        )
    });
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    for a in &answers {
        assert!(
            a.status == 200 || a.status == 503,
            "status {} under load: {}",
            a.status,
            a.body
        );
    }
    for a in &refused {
        assert_overload_answer(a, "admission bound");
    }
    assert!(ok >= 2, "{ok} answered");
    assert!(
        !refused.is_empty(),
        "80 requests at once on 2 slots, none refused"
    );

    // 2. Identical requests share one execution: ClickHouse sees the
    // queries of one request, not of forty.
    let wide = start_api(
        &mut stack,
        "api-wide.log",
        &[("AUTHPULSE_MAX_STORE_REQUESTS", "64")],
    );
    let path = format!(
        "/api/report/daily-active-users?start={}&end={now}",
        now - 7 * 86_400_000
    );
    // SELECT queries ClickHouse started so far (its own counter; this
    // server keeps no query_log). Includes the counting query itself and
    // any snapshot refresh: a little noise on both sides of the bound.
    let queries = || -> u64 {
        stack
            .query("SELECT value FROM system.events WHERE event = 'SelectQuery'")
            .trim()
            .parse()
            .unwrap()
    };
    let before = queries();
    assert_eq!(get(&wide, &path).status, 200);
    let one = queries() - before;
    assert!(one >= 1, "a report ran no ClickHouse query");
    let before = queries();
    let answers = burst(&wide, 40, |_| path.clone());
    let forty = queries() - before;
    let bodies: std::collections::HashSet<&str> = answers.iter().map(|a| a.body.as_str()).collect();
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(bodies.len(), 1, "identical requests, different answers");
    // A request that arrives after the shared one finished starts afresh,
    // so allow a few executions, but far fewer than one per request.
    assert!(
        forty <= 5 * one,
        "40 identical requests ran {forty} queries (one request runs {one})"
    );
    println!("COALESCE|40 identical requests|{forty} queries|{one} queries");

    // 3. ClickHouse itself refusing (all of its 200 query slots busy):
    // 503 with Retry-After, not 500.
    // Sleepers that outlast the polling window below; on a loaded machine
    // it takes a while until all of them run. Killed at the end (and
    // ClickHouse cancels a read query whose HTTP client went away).
    let mut sleepers: Vec<Child> = (0..230)
        .map(|_| {
            Command::new("curl")
                .args([
                    "-sS",
                    "--max-time",
                    "150",
                    &format!(
                        "{}/?cancel_http_readonly_queries_on_client_close=1",
                        stack.ch_url()
                    ),
                    "--data-binary",
                    "SELECT sleepEachRow(1) FROM numbers(140) SETTINGS max_block_size = 1 FORMAT Null",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Totals may be answered from the report cache while its tables don't
    // change (until its fingerprints go stale); the last hour of a login
    // report is always read live.
    let mut turn = 0u32;
    let refused = eventually(Duration::from_secs(120), || {
        turn += 1;
        let path = if turn.is_multiple_of(2) {
            "/api/report/totals".to_string()
        } else {
            let now = chrono::Utc::now().timestamp_millis();
            format!("/api/report/login?start={}&end={now}", now - 3_600_000)
        };
        let a = get(&wide, &path);
        assert!(
            a.status == 200 || a.status == 503,
            "status {} while ClickHouse is full: {}",
            a.status,
            a.body
        );
        (a.status == 503).then_some(a)
    });
    for s in &mut sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    let refused = refused.expect("ClickHouse never refused a query");
    assert_overload_answer(&refused, "ClickHouse refusing");
    assert!(
        stack
            .log("api-wide.log")
            .contains("TOO_MANY_SIMULTANEOUS_QUERIES"),
        "the 503 was not ClickHouse's refusal:\n{}",
        stack.log("api-wide.log")
    );
}
