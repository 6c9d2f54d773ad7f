"""Helpers the tests share. Test files import from here, never from each other."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Local reference servers (gRPC clients): which process listens, is it gone ------------


def pid_listening_on(target: str) -> int:
    """The pid of the other process listening on `target` (host:port), read from the OS."""
    import os

    import psutil

    port = int(target.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            assert conn.pid not in (None, os.getpid()), f"{target} is not another process"
            return conn.pid
    raise AssertionError(f"nothing listens on {target}")


def process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
