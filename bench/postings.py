"""Postings benchmark: a day of postings through augmentation, cold and warm cache.

Baselines run in the same process on the same files: Polars' bare `read_ndjson` (the
floor: reading the data at all) and a straightforward per-line version (json per line,
one cache GET per line, one model call per miss), which runs on a sample and is
extrapolated, because at full scale it would take many minutes.

    python -m bench.postings --lines 8000000     # full scale (about 2.4 GB)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

import polars as pl
import psutil

from assets.postings.augment import augment_postings, posting_files
from assets.postings.normalize import pair_hash
from resources.object_storage import LocalObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from scripts.sample_postings import write_sample_day

DAY = "2026-11-23"
WARM_ATTEMPTS = (1, 2, 3)


class PeakMemory:
    """Peak RSS of this process while the block runs, sampled every 20 ms."""

    def __enter__(self):
        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def timed(label: str, fn, results: dict):
    with PeakMemory() as memory:
        started = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - started
    results[label] = {"seconds": seconds, "peak_rss_mb": memory.peak / 2**20}
    print(f"  {label:32s} {seconds:8.2f} s   peak RSS {memory.peak / 2**20:8.0f} MB", flush=True)
    return value


_NOT_WORD = re.compile(r"[^\w+#]+|_+")


def normalize_plain(text: str) -> str:
    """The pipeline's normalization, written per string in plain Python."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return _NOT_WORD.sub(" ", folded).strip(" ")


def per_line_augment(paths: list[Path], out_dir: Path, cache_client, model, limit: int) -> dict:
    """The straightforward version: parse each line, GET per line, one model call per miss."""
    redis = cache_client.client
    version = model.model_version
    lines = calls = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        with open(path, encoding="utf-8") as source, open(out_dir / path.name, "w") as sink:
            for line in source:
                if lines >= limit:
                    return {"lines": lines, "model_calls": calls}
                lines += 1
                record = json.loads(line)
                company = normalize_plain(record["company"])
                title = normalize_plain(record["title"])
                key = f"bench:perline:{version}:{pair_hash(company, title)}"
                level = redis.get(key)
                if level is None:
                    [answer], _ = model.infer([company], [title])
                    calls += 1
                    redis.set(key, answer, ex=3600)
                    level = answer
                record["seniority"] = int(level)
                sink.write(json.dumps(record) + "\n")
    return {"lines": lines, "model_calls": calls}


def run(
    lines: int = 2_000_000, files: int = 8, per_line_sample: int = 50_000, keep: bool = False
) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fieldwork-bench-postings-"))
    results: dict = {"lines": lines, "files": files}
    try:
        storage = LocalObjectStorage(root=str(work / "data"))
        print(f"postings benchmark: {lines:,} lines in {files} files under {work}", flush=True)
        day = timed(
            "generate sample day", lambda: write_sample_day(storage, DAY, lines, files), results
        )
        results["bytes"] = day.bytes
        paths = [Path(storage.uri(k)) for k in posting_files(storage, DAY)]
        print(f"  input: {day.bytes / 1e9:.2f} GB", flush=True)

        model_def = SeniorityModel(endpoint=None, batch_size=1000)
        cache_def = SeniorityCache(embedded_db_path=str(work / "redis" / "bench.rdb"))
        with model_def.connect() as model:
            # The bare read and the warm run alternate, best of three each: the machine is
            # shared and drifts over minutes, and each ratio should compare neighbours.
            steps = ["augment, cold cache"]
            for attempt in WARM_ATTEMPTS:
                steps += [
                    f"baseline: polars read_ndjson #{attempt}",
                    f"augment, warm cache #{attempt}",
                ]
            for label in steps:
                if label.startswith("baseline"):
                    timed(label, lambda: pl.read_ndjson(paths), results)
                    continue
                with cache_def.connect() as cache:
                    out = timed(
                        label,
                        lambda: augment_postings(storage, cache, model, DAY),
                        results,
                    )
                report = out.report
                results[label].update(
                    distinct_pairs=report.distinct_pairs,
                    cache_hits=report.cache_hits,
                    cache_misses=report.cache_misses,
                    model_calls=report.model_calls,
                    expected_model_calls=math.ceil(report.cache_misses / model_def.batch_size),
                    lines_out=report.lines_out,
                )
                print(f"    {report.summary()}; phases {report.phase_seconds}", flush=True)
                results[label]["phase_seconds"] = report.phase_seconds
                del out

            sample = min(per_line_sample, lines)
            with cache_def.connect() as cache:
                for label in ("per-line, cold (sample)", "per-line, warm (sample)"):
                    stats = timed(
                        label,
                        lambda: per_line_augment(paths, work / "per-line", cache, model, sample),
                        results,
                    )
                    results[label].update(stats)
                    results[label]["extrapolated_seconds"] = (
                        results[label]["seconds"] / stats["lines"] * lines
                    )

        bare = min(results[f"baseline: polars read_ndjson #{i}"]["seconds"] for i in WARM_ATTEMPTS)
        warm = min(results[f"augment, warm cache #{i}"]["seconds"] for i in WARM_ATTEMPTS)
        results["bare_read_seconds"] = bare
        results["warm_seconds"] = warm
        cold = results["augment, cold cache"]["seconds"]
        per_line_warm = results["per-line, warm (sample)"]["extrapolated_seconds"]
        per_line_cold = results["per-line, cold (sample)"]["extrapolated_seconds"]
        results["ratios"] = {
            "warm / bare read (target <= 3)": warm / bare,
            "cold / bare read": cold / bare,
            "per-line warm / warm (target >= 10)": per_line_warm / warm,
            "per-line cold / cold": per_line_cold / cold,
            "warm lines per second": lines / warm,
            "cold lines per second": lines / cold,
        }
        cold_run = results["augment, cold cache"]
        results["model_calls_exact"] = cold_run["model_calls"] == cold_run["expected_model_calls"]
        print("  ratios:")
        for name, value in results["ratios"].items():
            print(f"    {name:40s} {value:12,.2f}")
        print(
            f"  model calls (cold): {cold_run['model_calls']} for {cold_run['cache_misses']:,} "
            f"distinct misses = ceil(misses / 1000): {results['model_calls_exact']}"
        )
        return results
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=8_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--per-line-sample", type=int, default=50_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    results = run(args.lines, args.files, args.per_line_sample)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
