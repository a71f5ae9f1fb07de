//! The HTTP client that times the API: hyper-util's pooled client (the
//! HTTP stack under the `clickhouse` crate the product uses), HTTP/1.1
//! keep-alive, bodies read whole. docs/benchmarks-analysis.md has its
//! measured per-request overhead.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Empty<Bytes>>,
}

pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Http {
    pub fn new() -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Http {
            // One idle connection per host is all a sequential timing loop
            // reuses; more would only hold sockets open.
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(4)
                .build(connector),
        }
    }

    /// GET `url` with an optional `Authorization` value; the whole body.
    pub async fn get(&self, url: &str, authorization: Option<&str>) -> anyhow::Result<Response> {
        match authorization {
            Some(a) => self.get_with(url, &[("authorization", a)]).await,
            None => self.get_with(url, &[]).await,
        }
    }

    /// GET `url` with the given request headers; the whole body.
    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> anyhow::Result<Response> {
        let mut req = hyper::Request::get(url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Empty::new())
            .with_context(|| format!("request to {url}"))?;
        let resp = self
            .client
            .request(req)
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .with_context(|| format!("body of GET {url}"))?
            .to_bytes();
        Ok(Response { status, body })
    }
}
