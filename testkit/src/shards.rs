//! A sharded ClickHouse cluster owned by one test: N servers started by
//! `deploy/local/clickhouse-cluster.sh` on free ports as the shards of one
//! cluster (one replica each: no Keeper here, docs/scaling.md), data under
//! a temp dir, stopped by PID.

use std::path::PathBuf;
use std::process::Command;

use crate::{free_port, repo};

pub struct Shards {
    pub dir: PathBuf,
    /// The cluster's name in every node's `<remote_servers>`.
    pub cluster: String,
    /// Node i (shard i + 1): its HTTP and native ports.
    pub http: Vec<u16>,
    pub tcp: Vec<u16>,
    bin: PathBuf,
}

impl Shards {
    /// Starts `nodes` servers as the shards of cluster `authpulse`.
    pub fn start(name: &str, nodes: usize) -> Shards {
        let dir = std::env::temp_dir().join(format!(
            "authpulse-test-{name}-shards-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let shards = Shards {
            dir,
            cluster: "authpulse".into(),
            http: (0..nodes).map(|_| free_port()).collect(),
            tcp: (0..nodes).map(|_| free_port()).collect(),
            bin: crate::authpulse_bin().unwrap_or_else(|e| panic!("{e:#}")),
        };
        let status = shards.script("start").status().unwrap();
        assert!(status.success(), "clickhouse-cluster.sh start failed");
        shards
    }

    fn script(&self, action: &str) -> Command {
        let join = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let mut c = Command::new("bash");
        c.arg(repo().join("deploy/local/clickhouse-cluster.sh"))
            .arg(action)
            .env("CH_NODES", self.http.len().to_string())
            .env("CH_CLUSTER", &self.cluster)
            .env("CH_DATA", self.dir.join("clickhouse"))
            .env("CH_HTTP_PORTS", join(&self.http))
            .env("CH_TCP_PORTS", join(&self.tcp));
        c
    }

    pub fn len(&self) -> usize {
        self.http.len()
    }

    pub fn is_empty(&self) -> bool {
        self.http.is_empty()
    }

    pub fn url(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.http[node])
    }

    /// The product's ClickHouse client for node `node`, database `authpulse`.
    pub fn client(&self, node: usize) -> clickhouse::Client {
        authpulse_connect::ClickHouseOptions::default()
            .client(&self.url(node))
            .expect("a plain http:// URL")
            .with_database("authpulse")
    }

    /// Runs a query on node `node` over HTTP and returns the TSV body.
    pub fn query(&self, node: usize, sql: &str) -> String {
        self.try_query(node, sql)
            .unwrap_or_else(|e| panic!("query on node {node} failed: {sql}: {e}"))
    }

    /// SIGKILLs node `node` by PID (a crash; its data stays) and waits
    /// until it is gone.
    pub fn kill_node(&self, node: usize) {
        self.node_ctl("kill-node", node);
    }

    /// Starts node `node` again on its data dir and ports.
    pub fn start_node(&self, node: usize) {
        self.node_ctl("start-node", node);
    }

    fn node_ctl(&self, action: &str, node: usize) {
        let status = self
            .script(action)
            .arg((node + 1).to_string())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "clickhouse-cluster.sh {action} {}",
            node + 1
        );
    }

    /// Runs a query on node `node`; Err(body) when the server refuses it.
    pub fn try_query(&self, node: usize, sql: &str) -> Result<String, String> {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "--max-time",
                "120",
                &self.url(node),
                "--data-binary",
                sql,
            ])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(body)
        } else {
            Err(body)
        }
    }

    /// `authpulse migrate --cluster-layout sharded` against every node.
    pub fn migrate(&self, database: &str, zones: &str) {
        for node in 0..self.len() {
            let out = Command::new(&self.bin)
                .args([
                    "migrate",
                    "--database",
                    database,
                    "--timezones",
                    zones,
                    "--cluster",
                    &self.cluster,
                    "--cluster-layout",
                    "sharded",
                ])
                .env("AUTHPULSE_CLICKHOUSE_URL", self.url(node))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "migrate of node {node} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        let _ = self.script("stop").status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
