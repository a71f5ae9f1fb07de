//! A minimal HTTP/1.1 client with keep-alive: enough for timing the API and
//! talking to ClickHouse without adding an HTTP client dependency. Handles
//! `Content-Length`, chunked and read-to-close bodies.

use std::path::Path;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// One keep-alive connection to `host:port`, reopened when it breaks.
pub struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
    /// Sent with every request (credentials).
    headers: Vec<(String, String)>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Conn {
    /// `base` is `http://host:port` (a trailing path is ignored).
    pub fn new(base: &str) -> Conn {
        let addr = base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Conn {
            addr,
            stream: None,
            headers: Vec::new(),
        }
    }

    /// Sends `headers` with every request.
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> Conn {
        self.headers = headers;
        self
    }

    /// Sends one request; retries once on a fresh connection when a reused
    /// one turns out to be closed.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> anyhow::Result<Response> {
        let reused = self.stream.is_some();
        match self.try_request(method, path, headers, &body).await {
            Ok(r) => Ok(r),
            Err(e) if reused => {
                self.stream = None;
                self.try_request(method, path, headers, &body)
                    .await
                    .with_context(|| format!("{method} {path} (after retry: {e})"))
            }
            Err(e) => Err(e.context(format!("{method} http://{}{path}", self.addr))),
        }
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Response> {
        self.request("GET", path, headers, Body::Empty).await
    }

    async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
    ) -> anyhow::Result<Response> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(64 << 10, s));
        }
        let stream = self.stream.as_mut().expect("connected");
        let len = match body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File(p) => tokio::fs::metadata(p).await?.len(),
        };
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers
            .iter()
            .map(|(k, v)| (*k, *v))
            .chain(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if len > 0 || method != "GET" {
            head.push_str(&format!("Content-Length: {len}\r\n"));
        }
        head.push_str("\r\n");
        let w = stream.get_mut();
        w.write_all(head.as_bytes()).await?;
        match body {
            Body::Empty => {}
            Body::Bytes(b) => w.write_all(b).await?,
            Body::File(p) => {
                let mut f = tokio::fs::File::open(p).await?;
                tokio::io::copy(&mut f, w).await?;
            }
        }
        w.flush().await?;
        let (resp, keep) = read_response(stream).await?;
        if !keep {
            self.stream = None;
        }
        Ok(resp)
    }
}

async fn read_response(r: &mut BufReader<TcpStream>) -> anyhow::Result<(Response, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        anyhow::bail!("connection closed before the response");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            anyhow::bail!("connection closed in the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => keep = !v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers until the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..]).await?;
            line.clear();
            r.read_line(&mut line).await?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    } else {
        r.read_to_end(&mut body).await?;
        keep = false;
    }
    Ok((Response { status, body }, keep))
}

/// Percent-encodes a query-string value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
