#!/usr/bin/env python3
"""Run a real ClickHouse server (HTTP + native) from the chdb-core wheel.

The wheel embeds the full ClickHouse engine. Started through chdb._chdb.query()
with a config.xml in the working directory, `SYSTEM START LISTEN` opens the
HTTP and native ports; a long sleepEachRow query keeps the process serving.
Stopped by its PID (SIGTERM or SIGKILL; MergeTree data survives either).

usage: clickhouse_server.py DATA_DIR HTTP_PORT TCP_PORT
"""
import ctypes
import importlib.util
import os
import sys
import types


def load_engine():
    """Loads chdb's `_chdb` extension without running `chdb/__init__.py`.

    That `__init__` opens and closes a throw-away embedded engine to read its
    version; closing it shuts down ClickHouse's process-wide streaming-storage
    registry, and every later CREATE of a Kafka (or other streaming) table in
    this process then fails with "Shutdown was called". Loading the extension
    directly (with RTLD_DEEPBIND, as `__init__` does) keeps the Kafka engine
    usable.
    """
    pkgdir = os.path.dirname(importlib.util.find_spec("chdb").origin)
    cwd = os.getcwd()
    os.chdir(pkgdir)
    try:
        so = os.path.join(pkgdir, "_chdb.abi3.so")
        ctypes.CDLL(so, mode=sys.getdlopenflags() | os.RTLD_DEEPBIND)
        pkg = types.ModuleType("chdb")
        pkg.__path__ = [pkgdir]
        sys.modules["chdb"] = pkg
        spec = importlib.util.spec_from_file_location("chdb._chdb", so)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["chdb._chdb"] = mod
        spec.loader.exec_module(mod)
        return mod
    finally:
        os.chdir(cwd)


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir, http_port, tcp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data_dir = os.path.abspath(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    os.chdir(data_dir)
    with open("config.xml", "w") as f:
        f.write(f"""<clickhouse>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <max_concurrent_queries>200</max_concurrent_queries>
    <default_session_timeout>60</default_session_timeout>
    <mark_cache_size>268435456</mark_cache_size>
    <remote_servers>
        <authpulse_local>
            <shard><replica><host>127.0.0.1</host><port>{tcp_port}</port></replica></shard>
        </authpulse_local>
    </remote_servers>
    <macros><shard>01</shard><replica>r1</replica></macros>
</clickhouse>
""")
    _chdb = load_engine()  # loaded after chdir: the engine reads ./config.xml

    # One multi-statement call: a second _chdb.query() in the same process fails
    # ("EventNotifier is initialized twice"). The sleep keeps the listeners up for
    # ~136 years; the server lives until its PID is signalled.
    print(f"clickhouse starting http={http_port} tcp={tcp_port} data={data_dir}", flush=True)
    _chdb.query(
        "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
        "SELECT sleepEachRow(1) FROM numbers(4294967295) "
        "SETTINGS max_block_size = 1, max_execution_time = 0 FORMAT Null",
        "TabSeparated",
        path=os.path.join(data_dir, "store"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
