#!/usr/bin/env python3
"""Measures ingest under both consumer group protocols (classic, consumer =
KIP-848) on a one-node Apache Kafka with 4 partitions: how long one instance
takes to drain a loadgen stream, and how long the group takes to settle when
a second instance joins and when it leaves (SIGTERM). The numbers are in
docs/delivery.md ("Group protocol"). Servers are started by the repo's
scripts on free ports under a temp dir and stopped by PID.

    deploy/local/group-protocol-bench.py [--events N] [--rounds R] [--bin PATH]
"""
import argparse
import datetime
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARTITIONS = 4


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def assigned_times(log_path, since):
    """Timestamps of 'partition assigned' lines at or after `since` (epoch s)."""
    out = []
    with open(log_path, errors="replace") as f:
        for line in f:
            if "partition assigned" not in line:
                continue
            m = re.match(r"(\d{4}-\d\d-\d\dT[\d:.]+)Z", re.sub(r"\x1b\[[0-9;]*m", "", line))
            if not m:
                continue
            t = datetime.datetime.fromisoformat(m.group(1)[:26]).replace(
                tzinfo=datetime.timezone.utc).timestamp()
            if t >= since:
                out.append(t)
    return out


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    high = lag = parts = 0
    for line in text.splitlines():
        if line.startswith("authpulse_ingest_partition_high_watermark{"):
            high += int(float(line.rsplit(" ", 1)[1]))
            parts += 1
        elif line.startswith("authpulse_ingest_partition_lag{"):
            lag += int(float(line.rsplit(" ", 1)[1]))
    return high, lag, parts


class Stack:
    def __init__(self, work):
        self.work = work
        self.env = dict(os.environ,
                        CH_HTTP_PORT=str(free_port()), CH_TCP_PORT=str(free_port()),
                        CH_DATA=f"{work}/clickhouse", BROKER_PORT=str(free_port()),
                        BROKER_DATA=f"{work}/broker")
        self.brokers = f"127.0.0.1:{self.env['BROKER_PORT']}"
        self.ch = f"http://127.0.0.1:{self.env['CH_HTTP_PORT']}"
        self.procs = []

    def script(self, name, *args):
        subprocess.run(["bash", f"{REPO}/deploy/local/{name}", *args], env=self.env, check=True)

    def spawn(self, binary, args, log, protocol):
        env = dict(self.env, AUTHPULSE_BROKERS=self.brokers, AUTHPULSE_CLICKHOUSE_URL=self.ch,
                   AUTHPULSE_GROUP_PROTOCOL=protocol, RUST_LOG="info,rdkafka=warn", NO_COLOR="1")
        p = subprocess.Popen([binary, *args], env=env, stdout=subprocess.DEVNULL,
                             stderr=open(f"{self.work}/{log}", "w"))
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.script("broker.sh", "stop")
        self.script("clickhouse.sh", "stop")


def run(binary, protocol, events, rounds):
    work = tempfile.mkdtemp(prefix=f"authpulse-gp-{protocol}-")
    st = Stack(work)
    try:
        st.script("clickhouse.sh", "start")
        st.script("broker.sh", "start")
        st.script("broker.sh", "topic", "auth-events", str(PARTITIONS))
        st.script("broker.sh", "topic", "auth-events-dlq", "1")
        env = dict(st.env, AUTHPULSE_CLICKHOUSE_URL=st.ch)
        subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run([binary, "loadgen", "--brokers", st.brokers, "--events", str(events),
                        "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL)
        ports = [free_port(), free_port()]
        args = lambda i: ["ingest", "--metrics-listen", f"127.0.0.1:{ports[i]}"]
        t0 = time.time()
        a = st.spawn(binary, args(0), "a.log", protocol)
        while True:
            m = metrics(ports[0])
            if m and m[2] == PARTITIONS and m[0] == events and m[1] == 0:
                break
            if time.time() - t0 > 900:
                raise SystemExit(f"{protocol}: drain did not finish")
            time.sleep(0.1)
        drain = time.time() - t0
        joins, leaves = [], []
        for r in range(rounds):
            time.sleep(3)
            t_join = time.time()
            b = st.spawn(binary, args(1), f"b{r}.log", protocol)
            time.sleep(25)
            done = assigned_times(f"{work}/a.log", t_join) + assigned_times(f"{work}/b{r}.log", t_join)
            if not done:
                raise SystemExit(f"{protocol}: no assignment after the join")
            joins.append(max(done) - t_join)
            t_leave = time.time()
            b.terminate()
            b.wait()
            time.sleep(25)
            done = assigned_times(f"{work}/a.log", t_leave)
            if not done:
                raise SystemExit(f"{protocol}: no assignment after the leave")
            leaves.append(max(done) - t_leave)
        # A join while A drains a second stream: how long the two take to
        # catch up, and how many open batches the rebalance threw away (they
        # are read again by the next owner).
        time.sleep(3)
        t_load = time.time()
        gen = subprocess.Popen([binary, "loadgen", "--brokers", st.brokers, "--events", str(events),
                                "--seed", "43", "--quiet"], env=env, stdout=subprocess.DEVNULL)
        time.sleep(3)
        st.spawn(binary, args(1), "b-load.log", protocol)
        gen.wait()
        while True:
            ms = [metrics(p) for p in ports]
            if all(ms) and sum(m[2] for m in ms) == PARTITIONS \
                    and sum(m[0] for m in ms) == 2 * events and sum(m[1] for m in ms) == 0:
                break
            if time.time() - t_load > 900:
                raise SystemExit(f"{protocol}: drain with a join did not finish")
            time.sleep(0.1)
        loaded = time.time() - t_load
        with open(f"{work}/a.log", errors="replace") as f:
            dropped = sum(1 for line in f if "dropping uncommitted batch" in line)
        return {"protocol": protocol, "drain_s": drain, "events_per_s": events / drain,
                "join_s": joins, "leave_s": leaves, "join_under_load_s": loaded,
                "dropped_batches": dropped}
    finally:
        st.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=f"{REPO}/target/release/authpulse")
    ap.add_argument("--protocols", default="classic,consumer")
    a = ap.parse_args()
    for protocol in a.protocols.split(","):
        r = run(a.bin, protocol, a.events, a.rounds)
        print(f"{protocol}: drain {a.events} events {r['drain_s']:.1f} s = {r['events_per_s']:.0f} ev/s; "
              f"join settles in {', '.join(f'{x:.2f}' for x in r['join_s'])} s "
              f"(median {statistics.median(r['join_s']):.2f}); leave settles in "
              f"{', '.join(f'{x:.2f}' for x in r['leave_s'])} s "
              f"(median {statistics.median(r['leave_s']):.2f}); a second stream with a join 3 s in "
              f"drained in {r['join_under_load_s']:.1f} s, {r['dropped_batches']} open batches dropped "
              f"by the first instance", flush=True)


if __name__ == "__main__":
    sys.exit(main())
