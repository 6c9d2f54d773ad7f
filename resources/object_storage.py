"""Object storage: the local `data/` folder or an S3 bucket, behind one interface.

Keys are bucket-relative paths such as `job-postings-raw/2026-11-23/part-000.jsonl`.
Writes are all-or-nothing: a reader never sees a half-written object, and a failed
write never replaces a good one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

# A staging file's name says which process made it (`.<name>.<random>.<host>-<pid>.tmp`), so
# a later run can tell the leftovers of a killed run from the files of one still running.
_STAGING_OWNER = re.compile(r"\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.tmp$")


def is_hidden(key: str) -> bool:
    """A key with a segment starting with "." is hidden: never data, on any storage."""
    return any(part.startswith(".") for part in key.split("/"))


def _this_host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _staging_suffix() -> str:
    return f".{_this_host()}-{os.getpid()}.tmp"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    # Modification time (local) or ETag (S3): changes whenever the content may have.
    version: str


class ObjectStorage(dg.ConfigurableResource, ABC):
    """Bucket-shaped storage. Subclasses decide where the bytes live."""

    @abstractmethod
    def list_objects(self, prefix: str, include_hidden: bool = False) -> list[StoredObject]:
        """Every object under `prefix`, sorted by key, excluding "folders", and hidden objects
        (`is_hidden`: a segment of the key starts with ".") unless `include_hidden`. One rule
        for the folder and the bucket."""

    def list_keys(self, prefix: str) -> list[str]:
        return [o.key for o in self.list_objects(prefix)]

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A local file path holding the object, for readers that want a path."""

    @abstractmethod
    def upload_file(self, path: Path, key: str) -> None:
        """Publish a finished local file under `key` atomically."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where a person finds the object (a path or an s3:// URI)."""

    def write_bytes(self, key: str, data: bytes) -> None:
        with self.staging_file(key) as path:
            path.write_bytes(data)
            self.upload_file(path, key)

    @contextlib.contextmanager
    def staging_file(self, key: str) -> Iterator[Path]:
        """A scratch file to write `key`'s content into before `upload_file`."""
        with tempfile.TemporaryDirectory(prefix="fieldwork-") as tmp:
            yield Path(tmp) / Path(key).name

    def exists(self, key: str) -> bool:
        return key in self.list_keys(key)

    def remove_abandoned_staging(self, prefix: str) -> list[str]:
        """Remove the staging files under `prefix` that a killed run left; the keys removed.

        Only storages that stage beside the objects leave any (the local folder)."""
        return []


class LocalObjectStorage(ObjectStorage):
    """A folder laid out like the buckets; the local default."""

    root: str

    def _path(self, key: str) -> Path:
        path = (Path(self.root) / key).resolve()
        if not path.is_relative_to(Path(self.root).resolve()):
            raise ValueError(f"object key {key!r} escapes the storage root {self.root}")
        return path

    def list_objects(self, prefix: str, include_hidden: bool = False) -> list[StoredObject]:
        root = Path(self.root).resolve()
        base = root / prefix
        if base.is_file():
            paths = [base]
        elif base.is_dir():
            paths = [p for p in base.rglob("*") if p.is_file()]
        else:
            return []
        objects = []
        for path in paths:
            key = path.relative_to(root).as_posix()
            if not include_hidden and is_hidden(key):
                continue
            with contextlib.suppress(FileNotFoundError):  # a staging file renamed meanwhile
                stat = path.stat()
                objects.append(StoredObject(key, stat.st_size, str(stat.st_mtime_ns)))
        return sorted(objects, key=lambda o: o.key)

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object {key!r} under {self.root}")
        yield path

    @contextlib.contextmanager
    def staging_file(self, key: str) -> Iterator[Path]:
        # Same folder as the target, so publishing is a rename on one filesystem.
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _staged_beside(target)
        try:
            yield tmp
        finally:
            tmp.unlink(missing_ok=True)

    def remove_abandoned_staging(self, prefix: str) -> list[str]:
        """Staging files of this host whose process is gone: a run killed (SIGKILL, OOM)
        before it could remove them. Files of a live process, a run of the same day in
        progress, are left alone; so are other hosts' (their pids mean nothing here)."""
        removed = []
        for obj in self.list_objects(prefix, include_hidden=True):
            owner = _STAGING_OWNER.search(obj.key.rsplit("/", 1)[-1])
            if not owner or not obj.key.rsplit("/", 1)[-1].startswith("."):
                continue
            if owner["host"] != _this_host() or _pid_alive(int(owner["pid"])):
                continue
            self._path(obj.key).unlink(missing_ok=True)
            removed.append(obj.key)
        return removed

    def upload_file(self, path: Path, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(path).parent == target.parent:
            os.replace(path, target)
            return
        tmp = _staged_beside(target)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return str(self._path(key))


def _staged_beside(target: Path) -> Path:
    """A new hidden staging file in `target`'s folder, named for this host and process."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=_staging_suffix(), dir=target.parent
    )
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make published objects private
    return Path(tmp)


class S3ObjectStorage(ObjectStorage):
    """An S3 bucket through dagster-aws; production."""

    bucket: str
    s3: S3Resource
    _client = PrivateAttr(default=None)

    @property
    def client(self):
        if self._client is None:
            self._client = self.s3.get_client()
        return self._client

    def list_objects(self, prefix: str, include_hidden: bool = False) -> list[StoredObject]:
        objects: list[StoredObject] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            objects.extend(
                StoredObject(o["Key"], o["Size"], o["ETag"].strip('"'))
                for o in page.get("Contents", [])
                if not o["Key"].endswith("/") and (include_hidden or not is_hidden(o["Key"]))
            )
        return sorted(objects, key=lambda o: o.key)

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="fieldwork-s3-") as tmp:
            path = Path(tmp) / Path(key).name
            self.client.download_file(self.bucket, key, str(path))
            yield path

    def upload_file(self, path: Path, key: str) -> None:
        # S3 PUTs are atomic: the object appears whole or not at all.
        self.client.upload_file(str(path), self.bucket, key)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
