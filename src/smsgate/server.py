"""``smsgate serve``: migrate, bootstrap, then run the API, dispatcher and channels in one
process."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import IO, Any

import uvicorn

from smsgate import __version__
from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.core.bootstrap import Bootstrap, bootstrap
from smsgate.core.clock import SystemClock
from smsgate.core.gateway import Gateway
from smsgate.logs import configure_logging
from smsgate.store.database import Database, open_database
from smsgate.store.migrate import migrate


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class AlreadyRunning(RuntimeError):
    pass


def hold_lock(path: Path, what: str) -> IO[bytes]:
    """Hold an exclusive lock on ``path`` for as long as this process runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "wb")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(f"another smsgate is already {what}") from None
    return handle


def claim_identity(settings: Settings, db: Database) -> tuple[str, list[IO[bytes]]]:
    """This process's node id, stable across restarts, and the locks that make it unique.

    The id comes from the host and the data directory, whose lock admits one process at a
    time: a restarted gateway knows that claims under its id are from its previous life and
    hands them back at once. On SQLite the database file is locked too: a second gateway on
    it would take over the first one's claimed messages.
    """
    data_dir = settings.data_dir.resolve()
    locks = [hold_lock(data_dir / "node.lock", f"running with data directory {data_dir}")]
    path = db.url.database
    if db.is_sqlite and path and path != ":memory:":
        try:
            locks.append(hold_lock(Path(f"{path}.lock"), f"serving {path}"))
        except AlreadyRunning:
            locks[0].close()
            raise
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]
    return f"{socket.gethostname()[:24]}-{digest}", locks


async def prepare_store(db: Database) -> Bootstrap:
    await migrate(db)

    def first_start() -> Bootstrap:
        with db.writer.begin() as conn:
            return bootstrap(conn, SystemClock().now_us())

    return await asyncio.to_thread(first_start)


def banner(
    settings: Settings,
    port: int,
    boot: Bootstrap,
    show_credentials: bool,
    smpp_ports: tuple[int, int | None] | None = None,
) -> str:
    """What ``serve`` prints once it listens; ``smpp_ports`` are the SMPP server face's
    listening ports (plain, TLS) when it runs."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    base = f"http://{host}:{port}"
    account = boot.account
    lines = [f"smsgate {__version__} listening on {base}", ""]
    if show_credentials or boot.account_created:
        lines += [
            f"  auth_id     {account.auth_id}",
            f"  auth_token  {account.auth_token}",
        ]
        if boot.admin_password:
            lines.append(
                f"  admin       admin / {boot.admin_password}   (shown once; change it with "
                "`smsgate admin set-password admin`)"
            )
        lines += [
            "",
            "Send your first message:",
            "",
            f"  curl -u {account.auth_id}:{account.auth_token} \\",
            "       -H 'Content-Type: application/json' \\",
            '       -d \'{"src": "14155550100", "dst": "14155550101", '
            '"text": "Hello from smsgate"}\' \\',
            f"       {base}/v1/Account/{account.auth_id}/Message/",
            "",
            "Then read it back:",
            "",
            f"  curl -u {account.auth_id}:{account.auth_token} "
            f"{base}/v1/Account/{account.auth_id}/Message/",
        ]
    else:
        lines.append(
            f"  account {account.auth_id} (`smsgate accounts show {account.auth_id}` "
            "prints its token)"
        )
    lines += [
        "",
        f"Console:       {base}/admin (as an admin user)",
        f"Send page:     {base}/send (with a pass code: `smsgate passcodes create`)",
        f"API reference: {base}/docs",
    ]
    if smpp_ports is not None:
        plain, tls_port = smpp_ports
        tls = f", TLS on {tls_port}" if tls_port is not None else ""
        lines.append(
            f"SMPP server:   {settings.smpp_server.host}:{plain}{tls} (`smsgate smpp users add` "
            "issues credentials)"
        )
    lines.append("")
    return "\n".join(lines)


async def serve(settings: Settings, *, show_credentials: bool = False) -> None:
    configure_logging(settings.log_format, settings.log_level)
    db = open_database(settings.resolved_database_url)
    try:
        node_id, locks = claim_identity(settings, db)
    except AlreadyRunning:
        await db.dispose()
        raise
    boot = await prepare_store(db)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    gateway = Gateway(settings, db, node_id=node_id)

    def started() -> None:
        smpp = getattr(app.state, "smpp_server", None)
        ports = (smpp.port, smpp.tls_port) if smpp is not None else None
        sys.stdout.write(banner(settings, port, boot, show_credentials, ports) + "\n")
        sys.stdout.flush()

    app = create_app(
        gateway,
        on_started=started,
        access_log=settings.access_log,
        log_format=settings.log_format,
    )
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=15,
    )
    try:
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()
        await db.dispose()
        for lock in locks:
            lock.close()
