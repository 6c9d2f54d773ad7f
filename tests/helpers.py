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


# --- Weather: a small generated day, the family's run, what a run left behind -------------

WEATHER_DAY = "2026-07-15"  # on or after the shared daily partitions' first day, 2026-07-01
WEATHER_CITIES = 60


def write_weather_day(storage, day: str = WEATHER_DAY, cities: int = WEATHER_CITIES, **kwargs):
    """A generated day of readings (with defects) under weather-readings/<day>/."""
    from scripts.sample_weather import write_sample_day

    return write_sample_day(storage, day, cities=cities, **kwargs)


def materialize_weather(resources: dict, day: str = WEATHER_DAY, **kwargs):
    """Materialize every weather asset and check for `day`, as the daily job does."""
    import dagster as dg

    from assets.weather.definitions import defs

    selection = [*defs.assets, *(defs.asset_checks or [])]
    return dg.materialize(selection, partition_key=day, resources=resources, **kwargs)


def published_weather_files(storage, day: str = WEATHER_DAY) -> dict[str, bytes]:
    """Every object a reader sees under the day's heat-index and quarantine prefixes."""
    from assets.weather.layout import heat_index_prefix, quarantine_prefix

    keys = storage.list_keys(heat_index_prefix(day)) + storage.list_keys(quarantine_prefix(day))
    return {key: storage.read_bytes(key) for key in keys}


def warehouse_rows(warehouse, table: str, columns: list[str] | None = None):
    """A table's rows (or some columns of them), in a stable order, as a Polars frame."""
    selected = ", ".join(columns) if columns else "*"
    return warehouse.query(f"select {selected} from {table} order by all")
