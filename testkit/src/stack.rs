//! ClickHouse and broker servers owned by one test, started through the
//! repo's own deploy scripts on free ports, data under a temp dir, stopped
//! by PID.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::{free_port, repo};

/// A ClickHouse server and a broker (one node, or a KRaft cluster), owned
/// by one test.
pub struct Stack {
    pub dir: PathBuf,
    pub ch_http: u16,
    pub ch_tcp: u16,
    /// The first (or only) broker node's client port.
    pub broker: u16,
    /// Every broker node's client port; node N (its node.id) is `[N - 1]`.
    pub broker_nodes: Vec<u16>,
    /// The `authpulse` binary that `spawn` and `migrate` run.
    pub bin: PathBuf,
    children: Vec<Child>,
}

/// The consumer group protocol the ingest instances of the tests use:
/// TEST_GROUP_PROTOCOL (classic|consumer), else ingest's default.
pub fn group_protocol() -> Option<String> {
    std::env::var("TEST_GROUP_PROTOCOL")
        .ok()
        .filter(|p| !p.is_empty())
}

impl Stack {
    pub fn start(name: &str) -> Stack {
        Stack::start_nodes(name, 1)
    }

    /// A ClickHouse server and a KRaft cluster of `nodes` brokers (topics
    /// get replication factor 3, min.insync.replicas 2 when nodes >= 3).
    pub fn start_cluster(name: &str, nodes: usize) -> Stack {
        assert!(nodes > 1, "a cluster has more than one node");
        Stack::start_nodes(name, nodes)
    }

    fn start_nodes(name: &str, nodes: usize) -> Stack {
        let dir = std::env::temp_dir().join(format!(
            "authpulse-test-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let broker_nodes: Vec<u16> = (0..nodes).map(|_| free_port()).collect();
        let stack = Stack {
            dir,
            ch_http: free_port(),
            ch_tcp: free_port(),
            broker: broker_nodes[0],
            broker_nodes,
            bin: crate::authpulse_bin().unwrap_or_else(|e| panic!("{e:#}")),
            children: Vec::new(),
        };
        stack.clickhouse("start");
        stack.broker_ctl("start");
        stack
    }

    /// Replicas per topic partition: as broker.sh gives its own topics.
    pub fn replication(&self) -> i32 {
        self.broker_nodes.len().min(3) as i32
    }

    fn script(&self, script: &str, action: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(repo().join("deploy/local").join(script))
            .arg(action)
            .env("CH_HTTP_PORT", self.ch_http.to_string())
            .env("CH_TCP_PORT", self.ch_tcp.to_string())
            .env("CH_DATA", self.dir.join("clickhouse"))
            .env("BROKER_PORT", self.broker.to_string())
            .env("BROKER_DATA", self.dir.join("broker"));
        if self.broker_nodes.len() > 1 {
            let ports: Vec<String> = self.broker_nodes.iter().map(u16::to_string).collect();
            c.env("BROKER_NODES", self.broker_nodes.len().to_string())
                .env("BROKER_PORTS", ports.join(","))
                // Three JVMs next to ClickHouse on a small machine.
                .env("BROKER_HEAP", "512m");
        }
        c
    }

    pub fn clickhouse(&self, action: &str) {
        let status = self.script("clickhouse.sh", action).status().unwrap();
        assert!(status.success(), "clickhouse.sh {action} failed");
    }

    pub fn broker_ctl(&self, action: &str) {
        let status = self.script("broker.sh", action).status().unwrap();
        assert!(status.success(), "broker.sh {action} failed");
    }

    /// `broker.sh ACTION N` for one node (start-node, stop-node, kill-node).
    pub fn broker_node(&self, action: &str, node: i32) {
        let status = self
            .script("broker.sh", action)
            .arg(node.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "broker.sh {action} {node} failed");
    }

    /// SIGKILLs broker node `node` (its node.id) by PID.
    pub fn kill_broker_node(&self, node: i32) {
        self.broker_node("kill-node", node);
    }

    /// Starts broker node `node` again on its data dir and waits for it.
    pub fn restart_broker_node(&self, node: i32) {
        self.broker_node("start-node", node);
    }

    /// The leader (node.id) of each partition of `topic`, from the
    /// cluster's metadata; -1 while a partition has none.
    pub fn partition_leaders(&self, topic: &str) -> BTreeMap<i32, i32> {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .unwrap();
        let md = client
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .unwrap_or_else(|| panic!("no metadata for topic {topic}"));
        t.partitions()
            .iter()
            .map(|p| (p.id(), p.leader()))
            .collect()
    }

    /// The in-sync replicas (node.ids) of each partition of `topic`.
    pub fn partition_isr(&self, topic: &str) -> BTreeMap<i32, Vec<i32>> {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .unwrap();
        let md = client
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
        md.topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
            .map(|p| {
                let mut isr = p.isr().to_vec();
                isr.sort_unstable();
                (p.id(), isr)
            })
            .collect()
    }

    pub fn ch_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ch_http)
    }

    /// The product's ClickHouse client for this stack's server, database
    /// `authpulse`.
    pub fn ch_client(&self) -> clickhouse::Client {
        authpulse_connect::ClickHouseOptions::default()
            .client(&self.ch_url())
            .expect("a plain http:// URL")
            .with_database("authpulse")
    }

    /// Bootstrap servers: every node.
    pub fn brokers(&self) -> String {
        self.broker_nodes
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs a query over ClickHouse HTTP and returns the TSV body.
    pub fn query(&self, sql: &str) -> String {
        self.query_in("default", sql)
    }

    /// Runs a statement with `database` as the default database.
    pub fn query_in(&self, database: &str, sql: &str) -> String {
        let url = format!("{}/?database={database}", self.ch_url());
        let out = Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                "--max-time",
                "30",
                &url,
                "--data-binary",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "query failed: {sql}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let rf = self.replication();
        self.create_topic_with(
            NewTopic::new(topic, partitions, TopicReplication::Fixed(rf)),
            partitions,
        );
    }

    /// Creates a topic whose partitions all have node `leader` as their
    /// preferred (first) replica, so one node leads every partition.
    pub fn create_topic_led_by(&self, topic: &str, partitions: i32, leader: i32) {
        let nodes = self.broker_nodes.len() as i32;
        let replicas: Vec<Vec<i32>> = (0..partitions)
            .map(|p| {
                let mut r = vec![leader];
                // The followers rotate so they share the follower load.
                let others: Vec<i32> = (1..=nodes).filter(|n| *n != leader).collect();
                for i in 0..(self.replication() - 1) as usize {
                    r.push(others[(p as usize + i) % others.len()]);
                }
                r
            })
            .collect();
        let slices: Vec<&[i32]> = replicas.iter().map(Vec::as_slice).collect();
        self.create_topic_with(
            NewTopic::new(topic, partitions, TopicReplication::Variable(&slices)),
            partitions,
        );
    }

    fn create_topic_with(&self, new: NewTopic<'_>, partitions: i32) {
        // A cluster's topics survive a node: acks=all needs 2 of 3 replicas.
        let min_isr = (self.replication() - 1).max(1).to_string();
        let new = new.set("min.insync.replicas", &min_isr);
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.brokers());
        crate::block_on(crate::kafka::create_topic(&config, new, partitions))
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Spawns an `authpulse` subcommand with this stack's endpoints.
    pub fn spawn(&mut self, args: &[&str], log: &str) -> usize {
        self.spawn_env(args, log, &[])
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_env(&mut self, args: &[&str], log: &str, env: &[(&str, &str)]) -> usize {
        let log_path = self.dir.join(log);
        let out = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(&self.bin)
            .args(args)
            .env("AUTHPULSE_CLICKHOUSE_URL", self.ch_url())
            .env("AUTHPULSE_BROKERS", self.brokers())
            .env("RUST_LOG", "info,rdkafka=warn")
            .envs(group_protocol().map(|p| ("AUTHPULSE_GROUP_PROTOCOL", p)))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn child(&mut self, i: usize) -> &mut Child {
        &mut self.children[i]
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for exit; returns the exit code.
    pub fn terminate(&mut self, i: usize) -> Option<i32> {
        terminate(&mut self.children[i], Duration::from_secs(60))
    }

    pub fn migrate(&self, database: &str) {
        self.migrate_zones(database, "UTC");
    }

    pub fn migrate_zones(&self, database: &str, zones: &str) {
        let out = Command::new(&self.bin)
            .args(["migrate", "--database", database, "--timezones", zones])
            .env("AUTHPULSE_CLICKHOUSE_URL", self.ch_url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// SIGTERM (a graceful stop: ingest commits, the api drains), then
/// [`wait_exit`]; returns the exit code.
pub fn terminate(child: &mut Child, limit: Duration) -> Option<i32> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    wait_exit(child, limit)
}

/// Waits up to `limit` for `child` to exit (its exit code), else kills it.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let t = Instant::now();
    while t.elapsed() < limit {
        match child.try_wait() {
            Ok(Some(status)) => return status.code(),
            Ok(None) => {}
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.broker_ctl_quiet("stop");
        let _ = self.script("clickhouse.sh", "stop").status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Stack {
    fn broker_ctl_quiet(&self, action: &str) {
        let _ = self.script("broker.sh", action).status();
    }
}
