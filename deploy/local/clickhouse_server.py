#!/usr/bin/env python3
"""Run a real ClickHouse server (HTTP + native) from the chdb-core wheel.

The wheel embeds the full ClickHouse engine. Started through chdb._chdb.query()
with a config.xml in the working directory, `SYSTEM START LISTEN` opens the
HTTP and native ports; a long sleepEachRow query keeps the process serving.
Stopped by its PID (SIGTERM or SIGKILL; MergeTree data survives either).

usage: clickhouse_server.py DATA_DIR HTTP_PORT TCP_PORT

Opt-in (environment; unset leaves the server as before):
  CH_HTTPS_PORT, CH_TLS_CERT, CH_TLS_KEY  also serve HTTPS on that port with
                                          this PEM certificate (chain) and key
                                          (see serve_https)
  CH_USERS        "name:password[,name:password]": users with full access;
                  `default` (no password) can then no longer read or write data
  CH_CLUSTER, CH_CLUSTER_SHARDS, CH_SHARD, CH_REPLICA
                  this server is shard CH_SHARD (replica CH_REPLICA) of the
                  cluster CH_CLUSTER, whose shards' native endpoints are
                  CH_CLUSTER_SHARDS "host:port,host:port" (one replica each);
                  see remote_servers() and deploy/local/clickhouse-cluster.sh
Passwords are stored as SHA-256 hashes in users.xml, never in clear.
"""
import ctypes
import hashlib
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


def users_xml() -> str:
    """users.xml for the users asked for in CH_USERS, or "" (the engine's
    built-in passwordless `default`). With CH_USERS, `default` stays
    passwordless for the engine's own in-process session (which cannot log
    in with a password; clickhouse-local does not check `networks`), but is
    granted only what that session runs: a client without a name and
    password can no longer read or write anything."""
    users = {}
    for entry in filter(None, os.environ.get("CH_USERS", "").split(",")):
        name, sep, password = entry.partition(":")
        if not sep or not name or name == "default":
            raise SystemExit("CH_USERS entries are name:password (not `default`)")
        users[name] = password
    if not users:
        return ""
    body = """        <default>
            <no_password/>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <grants>
                <query>GRANT SYSTEM LISTEN ON *.*</query>
                <query>GRANT CREATE TEMPORARY TABLE, TABLE ENGINE ON *.*</query>
                <query>GRANT SELECT ON system.numbers</query>
            </grants>
        </default>
"""
    for name, password in users.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        body += f"""        <{name}>
            <password_sha256_hex>{digest}</password_sha256_hex>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <access_management>1</access_management>
        </{name}>
"""
    return f"""<clickhouse>
    <profiles><default></default></profiles>
    <quotas><default></default></quotas>
    <users>
{body}    </users>
</clickhouse>
"""


def remote_servers(tcp_port: int) -> tuple[str, str]:
    """The <remote_servers> entries and the <macros> of this server.

    Always the single-node cluster `authpulse_local` (this server alone).
    With CH_CLUSTER, also that cluster: one shard per CH_CLUSTER_SHARDS
    entry, one replica each (the chdb engine runs no Keeper, so shards are
    not replicated here; docs/scaling.md), and the macros say which shard
    this server is, as a production node's config does."""
    clusters = f"""        <authpulse_local>
            <shard><replica><host>127.0.0.1</host><port>{tcp_port}</port></replica></shard>
        </authpulse_local>
"""
    shard, replica = "01", "r1"
    name = os.environ.get("CH_CLUSTER", "")
    if name:
        endpoints = [e for e in os.environ.get("CH_CLUSTER_SHARDS", "").split(",") if e]
        if not endpoints or not name.replace("_", "").isalnum() or name == "authpulse_local":
            raise SystemExit("CH_CLUSTER needs a plain name (not authpulse_local) and CH_CLUSTER_SHARDS host:port,...")
        body = ""
        for e in endpoints:
            host, sep, port = e.rpartition(":")
            if not sep or not port.isdigit():
                raise SystemExit(f"CH_CLUSTER_SHARDS entry {e!r} is not host:port")
            # internal_replication: with one replica per shard it changes
            # nothing; with replicas, ReplicatedMergeTree copies the rows.
            body += f"""            <shard><internal_replication>true</internal_replication><replica><host>{host}</host><port>{port}</port></replica></shard>
"""
        clusters += f"""        <{name}>
{body}        </{name}>
"""
        shard = os.environ.get("CH_SHARD", "01")
        replica = os.environ.get("CH_REPLICA", "r1")
    macros = f"<macros><shard>{shard}</shard><replica>{replica}</replica></macros>"
    return clusters, macros


def serve_https(port: int, cert: str, key: str, http_port: int) -> None:
    """Child process: terminate TLS on `port` and forward each connection to
    the HTTP port. The embedded engine (clickhouse-local) opens only the HTTP
    and native listeners (`SYSTEM START LISTEN HTTPS` is refused), so HTTPS
    is served in front of it with Python's ssl (OpenSSL). Dies with its
    parent, so stopping the server's PID stops it too."""
    import asyncio
    import signal
    import ssl

    libc = ctypes.CDLL(None)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", http_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    async def run():
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ctx)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def start_https(http_port: int) -> int:
    """Forks the HTTPS front when CH_HTTPS_PORT is set; returns its port or 0."""
    port = os.environ.get("CH_HTTPS_PORT")
    if not port:
        return 0
    cert, key = os.environ.get("CH_TLS_CERT"), os.environ.get("CH_TLS_KEY")
    if not cert or not key:
        raise SystemExit("CH_HTTPS_PORT needs CH_TLS_CERT and CH_TLS_KEY (PEM files)")
    cert, key = os.path.abspath(cert), os.path.abspath(key)
    parent = os.getpid()
    if os.fork() == 0:
        if os.getppid() != parent:
            os._exit(0)
        try:
            serve_https(int(port), cert, key, http_port)
        finally:
            os._exit(1)
    return int(port)


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir, http_port, tcp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data_dir = os.path.abspath(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    os.chdir(data_dir)
    users = users_xml()
    clusters, macros = remote_servers(tcp_port)
    # Before the engine loads: no threads yet, so forking is safe.
    https = start_https(http_port)
    if users:
        with open("users.xml", "w") as f:
            f.write(users)
    elif os.path.exists("users.xml"):
        os.remove("users.xml")
    with open("config.xml", "w") as f:
        f.write(f"""<clickhouse>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <max_concurrent_queries>200</max_concurrent_queries>
    <default_session_timeout>60</default_session_timeout>
    <mark_cache_size>268435456</mark_cache_size>
    <remote_servers>
{clusters}    </remote_servers>
    {macros}
{'    <users_config>users.xml</users_config>' + chr(10) if users else ''}</clickhouse>
""")
    _chdb = load_engine()  # loaded after chdir: the engine reads ./config.xml

    # One multi-statement call: a second _chdb.query() in the same process fails
    # ("EventNotifier is initialized twice"). The sleep keeps the listeners up for
    # ~136 years; the server lives until its PID is signalled.
    print(f"clickhouse starting http={http_port} tcp={tcp_port} https={https or '-'} data={data_dir}", flush=True)
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
