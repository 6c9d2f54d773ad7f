"""A run killed with SIGKILL leaves its staging files; the next run of the day removes them,
and never the staging files of a run still in progress in another process."""

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from assets.postings.augment import output_key, output_prefix
from scripts.sample_postings import write_sample_day
from tests.helpers import POSTINGS_DAY, closed_port, materialization_metadata, materialize_postings

DAY = POSTINGS_DAY
REPO = Path(__file__).resolve().parents[2]

# A postings run in its own process. The model endpoint accepts connections and never
# answers, so the run holds its staging files until it is killed.
RUN = textwrap.dedent(
    """
    import sys
    from resources.object_storage import LocalObjectStorage
    from resources.seniority_cache import SeniorityCache
    from resources.seniority_model import SeniorityModel
    from resources.warehouse import DuckDBWarehouse
    from tests.helpers import materialize_postings

    root, endpoint, redis_url, warehouse, day = sys.argv[1:]
    materialize_postings(
        {
            "storage": LocalObjectStorage(root=root),
            "seniority_model": SeniorityModel(endpoint=endpoint, deadline_seconds=600),
            "seniority_cache": SeniorityCache(redis_url=redis_url),
            "warehouse": DuckDBWarehouse(path=warehouse),
        },
        day,
    )
    """
)

# A process that stages a file beside an output and holds it until its stdin closes.
HOLD = textwrap.dedent(
    """
    import sys
    from resources.object_storage import LocalObjectStorage

    with LocalObjectStorage(root=sys.argv[1]).staging_file(sys.argv[2]) as path:
        path.write_bytes(b"half written")
        print(path, flush=True)
        sys.stdin.read()
    """
)


def staging_files(storage, day: str = DAY) -> list[Path]:
    """Every hidden file under the day's output folder."""
    folder = Path(storage.uri(output_prefix(day)))
    return sorted(p for p in folder.rglob(".*") if p.is_file()) if folder.exists() else []


def wait_for(condition, what: str, timeout: float = 180):
    """Poll until `condition()` is truthy (a guard against hanging, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def test_the_next_run_removes_what_a_run_killed_with_sigkill_left(resources, storage, tmp_path):
    sample = write_sample_day(storage, DAY, lines=600, files=3, seed=21)
    with socket.socket() as silent_model:
        silent_model.bind(("127.0.0.1", 0))
        silent_model.listen(16)
        port = silent_model.getsockname()[1]
        run = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN,
                storage.root,
                f"127.0.0.1:{port}",
                f"redis://127.0.0.1:{closed_port()}/0",  # no cache: no embedded server left
                str(tmp_path / "killed.duckdb"),
                DAY,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Three outputs and the quarantine staged, then the run waits for the model.
            wait_for(lambda: len(staging_files(storage)) == 4, "the run to stage its outputs")
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=60)
    left = staging_files(storage)
    assert run.returncode == -signal.SIGKILL
    assert len(left) == 4 and all(p.name.endswith(".tmp") for p in left)

    meta = materialization_metadata(materialize_postings(resources))

    assert staging_files(storage) == []
    assert sorted(meta["abandoned_staging_removed"]) == sorted(
        Path(p).relative_to(Path(storage.root).resolve()).as_posix() for p in left
    )
    assert meta["lines_out"] == 600
    for key in sample.keys:
        out = storage.read_bytes(output_key(key, DAY)).splitlines()
        assert len(out) == len(storage.read_bytes(key).splitlines())
        assert all(b'"seniority":' in line for line in out)


def test_a_run_in_progress_keeps_its_staging_files(resources, storage):
    """A planted leftover of a dead process goes; a live process's staging file stays."""
    write_sample_day(storage, DAY, lines=200, files=1, seed=22)
    target = f"{output_prefix(DAY)}part-000.jsonl"

    def hold() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", HOLD, storage.root, target],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    dead, live = hold(), hold()
    dead_path = Path(dead.stdout.readline().strip())
    live_path = Path(live.stdout.readline().strip())
    dead.send_signal(signal.SIGKILL)
    dead.wait(timeout=60)
    try:
        assert dead_path.exists() and live_path.exists()

        meta = materialization_metadata(materialize_postings(resources))

        assert not dead_path.exists()
        assert meta["abandoned_staging_removed"] == [
            dead_path.relative_to(Path(storage.root).resolve()).as_posix()
        ]
        assert live_path.read_bytes() == b"half written"
        assert meta["lines_out"] == 200
    finally:
        live.stdin.close()
        live.wait(timeout=60)
    assert not live_path.exists()  # the live process removed its own file when done
