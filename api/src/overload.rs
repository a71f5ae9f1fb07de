//! Admission control and request coalescing toward ClickHouse.
//!
//! Under load the API used to pass every request straight to ClickHouse,
//! which then refused queries (TOO_MANY_SIMULTANEOUS_QUERIES) and the
//! clients saw 500s. Now:
//!
//! - at most `max_in_flight` requests run their store queries at once (a
//!   semaphore); a request that finds no permit waits at most `max_wait`,
//!   and at most `max_waiting` requests wait at all: beyond either bound the
//!   answer is 503 with `Retry-After` (`ApiError::Overloaded`), never a 500;
//! - identical report requests in flight at the same time (same path and
//!   query string, each one authorized on its own first) share one
//!   execution: one permit, one set of ClickHouse queries, one answer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, FutureExt, Shared, WeakShared};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Admission settings (`authpulse api --max-store-requests ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests running store queries at once.
    pub max_in_flight: usize,
    /// Requests allowed to wait for a permit (beyond: 503 at once).
    pub max_waiting: usize,
    /// How long a request waits for a permit before 503.
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_in_flight: 16,
            max_waiting: 256,
            max_wait: Duration::from_secs(2),
        }
    }
}

/// A response as shared between coalesced requests.
#[derive(Clone)]
pub(crate) struct Shareable {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Shareable {
    /// Bytes of headers and body.
    pub(crate) fn len(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len())
                .sum::<usize>()
    }
}

impl IntoResponse for Shareable {
    fn into_response(self) -> Response {
        (self.status, self.headers, self.body).into_response()
    }
}

type Pending = Shared<BoxFuture<'static, Shareable>>;

/// The admission gate of one server.
pub struct Gate {
    limits: Limits,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    in_flight: Mutex<HashMap<String, WeakShared<BoxFuture<'static, Shareable>>>>,
    /// Executions started for coalescable requests (for tests/metrics).
    executions: AtomicUsize,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("limits", &self.limits)
            .finish()
    }
}

/// Holds one unit of store concurrency until dropped.
pub struct Permit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Gate {
    pub fn new(limits: Limits) -> Gate {
        Gate {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            waiting: AtomicUsize::new(0),
            in_flight: Mutex::default(),
            executions: AtomicUsize::new(0),
        }
    }

    /// `run` once a permit is taken (see [`Gate::admit`]): for store work
    /// inside a cached computation, so only what reaches ClickHouse waits.
    pub async fn admitted<T, E: Into<ApiError>>(
        &self,
        run: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, ApiError> {
        let _permit = self.admit().await?;
        run.await.map_err(Into::into)
    }

    /// A permit to query the store, or `Overloaded` when none frees up
    /// within the wait bound (or too many already wait).
    pub async fn admit(&self) -> Result<Permit, ApiError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(Permit(p));
        }
        // Count ourselves in the queue; leave at once if it is full.
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if before >= self.limits.max_waiting {
            return Err(ApiError::Overloaded);
        }
        match tokio::time::timeout(self.limits.max_wait, self.permits.clone().acquire_owned()).await
        {
            Ok(Ok(p)) => Ok(Permit(p)),
            // Timed out (the semaphore is never closed).
            _ => Err(ApiError::Overloaded),
        }
    }

    /// Runs `work` under a permit, shared with every identical request
    /// (`key`) in flight: the first one starts it, the others wait for
    /// its answer. Callers authorize before calling.
    pub async fn coalesce<F, R>(self: &Arc<Self>, key: String, work: F) -> Response
    where
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.run_shared(key, work, true).await
    }

    /// [`Gate::coalesce`] without taking a permit: for work that takes
    /// one itself only when it queries the store (answers mostly served
    /// from the report cache shouldn't queue behind queries).
    pub async fn share<F, R>(self: &Arc<Self>, key: String, work: F) -> Response
    where
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.run_shared(key, work, false).await
    }

    async fn run_shared<F, R>(self: &Arc<Self>, key: String, work: F, admit: bool) -> Response
    where
        F: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let pending = {
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&key).and_then(WeakShared::upgrade) {
                Some(p) => p,
                None => {
                    let gate = self.clone();
                    let fut: BoxFuture<'static, Shareable> = async move {
                        gate.executions.fetch_add(1, Ordering::Relaxed);
                        let response = if admit {
                            match gate.admit().await {
                                Ok(_permit) => work.await.into_response(),
                                Err(e) => e.into_response(),
                            }
                        } else {
                            work.await.into_response()
                        };
                        shareable(response).await
                    }
                    .boxed();
                    let p: Pending = fut.shared();
                    if let Some(weak) = p.downgrade() {
                        map.insert(key.clone(), weak);
                    }
                    p
                }
            }
        };
        let answer = pending.await;
        // Forget finished entries (a later request starts afresh).
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&key).is_some_and(|w| w.upgrade().is_none()) {
            map.remove(&key);
        }
        drop(map);
        answer.into_response()
    }

    /// How many coalesced executions were started so far.
    pub fn executions(&self) -> usize {
        self.executions.load(Ordering::Relaxed)
    }
}

/// The coalescing key of a request: its path and query string, as sent.
pub fn key(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string())
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) async fn shareable(response: Response) -> Shareable {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => Shareable {
            status: parts.status,
            headers: parts.headers,
            body,
        },
        // Our own JSON bodies do not fail to collect; if one did, it is
        // an internal error, reported as such.
        Err(e) => {
            tracing::error!(error = %e, "collecting a response body failed");
            Shareable {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn gate(max_in_flight: usize, max_waiting: usize, wait_ms: u64) -> Arc<Gate> {
        Arc::new(Gate::new(Limits {
            max_in_flight,
            max_waiting,
            max_wait: Duration::from_millis(wait_ms),
        }))
    }

    #[tokio::test]
    async fn identical_requests_share_one_execution() {
        let g = gate(4, 16, 5_000);
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (g, runs) = (g.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                g.coalesce("/r?a=1".into(), async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "answer"
                })
                .await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
            assert_eq!(&body[..], b"answer");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Done: the next identical request runs afresh.
        let r = g.coalesce("/r?a=1".into(), async { "again" }).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(g.executions(), 2);
        assert!(g.in_flight.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn shared_work_without_a_permit_runs_while_permits_are_taken() {
        let g = gate(1, 0, 10);
        let _held = g.admit().await.unwrap();
        // coalesce needs the only permit: 503.
        let r = g.coalesce("/a".into(), async { "x" }).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        // share doesn't: the work runs (and would admit itself to query).
        let r = g.share("/a".into(), async { "cached" }).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body = axum::body::to_bytes(r.into_body(), 16).await.unwrap();
        assert_eq!(&body[..], b"cached");
    }

    #[tokio::test]
    async fn different_requests_do_not_share() {
        let g = gate(4, 16, 5_000);
        let a = g.coalesce("/r?a=1".into(), async { "1" });
        let b = g.coalesce("/r?a=2".into(), async { "2" });
        let (a, b) = tokio::join!(a, b);
        let a = axum::body::to_bytes(a.into_body(), 16).await.unwrap();
        let b = axum::body::to_bytes(b.into_body(), 16).await.unwrap();
        assert_eq!((&a[..], &b[..]), (&b"1"[..], &b"2"[..]));
        assert_eq!(g.executions(), 2);
    }

    #[tokio::test]
    async fn beyond_the_bounds_is_503_with_retry_after() {
        // One permit, one waiter, 200 ms wait.
        let g = gate(1, 1, 200);
        let held = g.admit().await.unwrap();
        // The queue has room for one: it waits 200 ms, then 503.
        let t = std::time::Instant::now();
        assert!(matches!(g.admit().await, Err(ApiError::Overloaded)));
        assert!(t.elapsed() >= Duration::from_millis(150));
        // A full queue answers at once.
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.admit().await.is_ok() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = std::time::Instant::now();
        let r = g.coalesce("/x".into(), async { "never" }).await;
        assert!(t.elapsed() < Duration::from_millis(150));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().contains_key("retry-after"));
        // Released in time: the waiter gets the permit.
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn concurrency_toward_the_store_is_bounded() {
        let g = gate(3, 1000, 10_000);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (g, now, peak) = (g.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                g.coalesce(format!("/r?i={i}"), async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    "ok"
                })
                .await
                .status()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), StatusCode::OK);
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
