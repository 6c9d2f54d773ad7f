"""Training suggestions benchmark: what the platform adds to the tagging model's own time, and
what keeping several batches in flight buys against one batch after the other.

The work measured is one customer's suggestion run as `tag_suggestions` does it
(`CustomerSuggester.run`: the suggestion cache asked first, then the model in batches of
1,000, every request in the request log, every answer validated, the valid ones cached and
kept beside the log), on the local defaults: the request log on a local folder, the
suggestion cache on an embedded Redis, the reference tagger as its own process on loopback.
The modules: 10,000 of one customer, the catalog seed's texts of acme-pharma (about 2,300)
repeated with a part number in the title, so every module has its own text and content
hash. Each run starts from an empty log and cache. Outside the figures: what the asset does
once the run is over (its checks, the warehouse load, the suggestions file).

The tagger that takes a fixed time per batch: the reference server with `--backend
stand-in` (tags from a hash of the text, replies shaped like the real model's, in next to no
time) and `--batch-delay-seconds D`.

Platform overhead per module, two ways:
- against bare calls (the headline): (wall time of the run - wall time of the bare calls) /
  modules, both one batch at a time against the stand-in with no delay. The bare calls are
  the least a client can do to get the same answers: build each batch's SuggestTagsRequest
  from the same frame, call the stub, read every reply; nothing else. The model's time and
  the transport are in both and cancel out. The two alternate, best of `--repeat` rounds
  each (the machine is shared and drifts). Target: under 1 ms per module.
- against the model's fixed time: (wall time of the run with 1 batch in flight and the
  delay - batches x D) / modules; this one also holds the transport.

Throughput: modules per second with 1 batch in flight and with N against the stand-in with
the delay, and their ratio, beside the ratio the delay alone would give (if nothing but the
model's fixed time counted): batches / ceil(batches / N). The platform's own work on a batch
is CPU in one Python process, so batches in flight overlap their waits, not that work. Then
the same pair against the real reference model (TF-IDF) with the same delay: its compute
runs in its own server process, one batch at a time (one interpreter), so in flight it
overlaps with the platform's work on the other core as well as with the waits.

    python -m bench.training                          # 10,000 modules, 1 s per batch, 4 in flight
    python -m bench.training --modules 2000 --batch-delay 0.5 --in-flight 8
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import polars as pl

from assets.training.requests import RequestLog
from assets.training.tagging import CustomerSuggester, SuggestionRun, SuggestJob
from model_servers.training_catalog.seed import generate, load_taxonomies
from model_servers.training_catalog.store import content_hash, taxonomy_version
from protos import tagging_pb2, tagging_pb2_grpc
from protos.contract import MAX_TAGS_PER_MODULE
from resources.grpc_client import reference_server
from resources.object_storage import LocalObjectStorage
from resources.suggestion_cache import SuggestionCache
from resources.tagging_model import TaggingModel
from resources.training_catalog import Tag, Taxonomy

CUSTOMER = "acme-pharma"
BATCH_SIZE = 1_000
TARGET_OVERHEAD_MS = 1.0
SERVER_START_SECONDS = 60.0


# --- the customer ----------------------------------------------------------------------------


def customer_modules(count: int) -> tuple[Taxonomy, pl.DataFrame]:
    """The seed's taxonomy of CUSTOMER and `count` modules with its texts, each text its own
    (module_id, content_hash, title, description), sorted by module id."""
    [seed] = generate([c for c in load_taxonomies() if c["customer_id"] == CUSTOMER])
    tags = tuple(
        Tag(tag_id, label, description, tuple(json.loads(aliases)))
        for _, tag_id, _, label, description, aliases in seed.tags
    )
    texts = [(title, description) for _, _, title, description, _, _ in seed.modules]
    rows = []
    for n in range(count):
        title, description = texts[n % len(texts)]
        title = f"{title} (part {n // len(texts) + 1})"
        rows.append((f"{CUSTOMER}-b{n:06d}", content_hash(title, description), title, description))
    modules = pl.DataFrame(
        rows, schema=["module_id", "content_hash", "title", "description"], orient="row"
    )
    return Taxonomy(CUSTOMER, taxonomy_version(tags), tags), modules


# --- the two ways to get the answers ---------------------------------------------------------


def platform_run(
    target: str, taxonomy: Taxonomy, modules: pl.DataFrame, in_flight: int, work: Path
) -> tuple[SuggestionRun, float]:
    """One suggestion run on an empty request log and cache of its own; the run and the
    seconds of `run()` alone (connecting the tagger and starting Redis are not timed)."""
    folder = work / f"run-{uuid.uuid4().hex[:8]}"
    storage = LocalObjectStorage(root=str(folder / "data"))
    cache_def = SuggestionCache(
        embedded_db_path=str(work / "redis" / "bench.rdb"), key_prefix=f"bench-{folder.name}"
    )
    tagging = TaggingModel(endpoint=target, max_batches_in_flight=in_flight)
    with tagging.connect() as tagger, cache_def.connect() as cache:
        job = SuggestJob(
            customer_id=CUSTOMER,
            taxonomy=taxonomy,
            modules=modules,
            model_version=tagger.describe().model_version,
            batch_size=BATCH_SIZE,
        )
        suggester = CustomerSuggester(job, tagger, cache, RequestLog(storage), storage)
        started = time.perf_counter()
        run = suggester.run()
        seconds = time.perf_counter() - started
    if run.failed_requests or run.valid.height != modules.height or run.modules_cached:
        raise RuntimeError(f"the benchmark's run did not go through: {run.figures()}")
    return run, seconds


def bare_calls(target: str, taxonomy: Taxonomy, modules: pl.DataFrame) -> int:
    """The same batches straight through the stub, one after the other; replies read."""
    tags = [
        tagging_pb2.TaxonomyTag(
            tag_id=t.tag_id, label=t.label, description=t.description, aliases=t.aliases
        )
        for t in taxonomy.tags
    ]
    replies = 0
    with grpc.insecure_channel(target) as channel:
        stub = tagging_pb2_grpc.TaggingModelStub(channel)
        for offset in range(0, modules.height, BATCH_SIZE):
            batch = modules.slice(offset, BATCH_SIZE)
            request = tagging_pb2.SuggestTagsRequest(
                customer_id=CUSTOMER,
                taxonomy_version=taxonomy.version,
                taxonomy=tags,
                modules=[
                    tagging_pb2.ModuleText(module_id=m, title=t, description=d)
                    for m, t, d in batch.select("module_id", "title", "description").rows()
                ],
                max_tags_per_module=MAX_TAGS_PER_MODULE,
                request_id=uuid.uuid4().hex,
            )
            replies += sum(1 for _ in stub.SuggestTags(request, timeout=600))
    if replies != modules.height:
        raise RuntimeError(f"bare calls got {replies} replies for {modules.height} modules")
    return replies


def record(label: str, seconds: float, rounds: dict[str, list[float]]) -> None:
    rounds.setdefault(label, []).append(round(seconds, 3))
    print(f"  {label:44s} {seconds:8.2f} s", flush=True)


def warm_up(target: str, taxonomy: Taxonomy, modules: pl.DataFrame) -> None:
    """The first calls of a server (the TF-IDF model imports scikit-learn, about 5 s) are
    not part of any measurement."""
    bare_calls(target, taxonomy, modules.head(10))


def tagger(backend: str, delay: float, in_flight: int):
    """The reference tagger as its own process on loopback; yields its host:port."""
    args = ["--backend", backend, "--max-workers", str(max(8, in_flight))]
    if delay:
        args += ["--batch-delay-seconds", str(delay)]
    return reference_server("model_servers.tagging", SERVER_START_SECONDS, args)


# --- the figures -----------------------------------------------------------------------------


def overhead(
    taxonomy: Taxonomy, modules: pl.DataFrame, repeat: int, work: Path
) -> dict[str, object]:
    """The run against bare calls, one batch at a time, the stand-in without delay."""
    rounds: dict[str, list[float]] = {}
    with tagger("stand-in", 0.0, 1) as target:
        warm_up(target, taxonomy, modules)
        for _ in range(repeat):
            started = time.perf_counter()
            bare_calls(target, taxonomy, modules)
            record("bare calls, 1 in flight", time.perf_counter() - started, rounds)
            run, seconds = platform_run(target, taxonomy, modules, 1, work)
            record("platform run, 1 in flight", seconds, rounds)
    bare = min(rounds["bare calls, 1 in flight"])
    platform = min(rounds["platform run, 1 in flight"])
    return {
        "rounds_seconds": rounds,
        "bare_best_seconds": bare,
        "platform_best_seconds": platform,
        "overhead_ms_per_module": round((platform - bare) / modules.height * 1000, 3),
        "target_ms_per_module": TARGET_OVERHEAD_MS,
        "last_run": run.figures(),
    }


def throughput(
    backend: str,
    taxonomy: Taxonomy,
    modules: pl.DataFrame,
    delay: float,
    in_flight: int,
    work: Path,
) -> dict[str, object]:
    """One run with 1 batch in flight, one with `in_flight`, against `backend` + `delay`."""
    results: dict[str, object] = {"backend": backend, "batch_delay_seconds": delay}
    rounds: dict[str, list[float]] = {}
    batches = math.ceil(modules.height / BATCH_SIZE)
    with tagger(backend, delay, in_flight) as target:
        warm_up(target, taxonomy, modules)
        for n in (1, in_flight):
            run, seconds = platform_run(target, taxonomy, modules, n, work)
            record(f"{backend}, {delay:g} s/batch, {n} in flight", seconds, rounds)
            results[f"in_flight_{n}"] = {
                "seconds": round(seconds, 3),
                "modules_per_second": round(modules.height / seconds, 1),
                "model_seconds_summed_over_calls": round(run.model_seconds, 3),
            }
    one = results["in_flight_1"]["seconds"]  # type: ignore[index]
    many = results[f"in_flight_{in_flight}"]["seconds"]  # type: ignore[index]
    results.update(
        batches=batches,
        in_flight=in_flight,
        ratio=round(one / many, 2),
        delay_alone_ratio=round(batches / math.ceil(batches / in_flight), 2),
        # Everything but the model's fixed time, transport included (1 batch in flight).
        ms_per_module_beyond_the_delay=round((one - batches * delay) / modules.height * 1000, 3),
    )
    return results


def say_throughput(flow: dict) -> None:
    n = flow["in_flight"]
    one, many = flow["in_flight_1"], flow[f"in_flight_{n}"]
    print(
        f"  {flow['backend']}: {one['modules_per_second']:,.0f} modules/s with 1 batch in "
        f"flight, {many['modules_per_second']:,.0f} with {n}: {flow['ratio']:.2f}x (the delay "
        f"alone: {flow['delay_alone_ratio']:.2f}x); 1 in flight spends "
        f"{flow['ms_per_module_beyond_the_delay']:.3f} ms per module beyond the model's "
        f"{flow['batch_delay_seconds']:g} s per batch",
        flush=True,
    )


def run(
    modules: int = 10_000,
    batch_delay: float = 1.0,
    in_flight: int = 4,
    repeat: int = 3,
    keep: bool = False,
) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fieldwork-bench-training-"))
    print(
        f"training benchmark: {modules:,} modules of {CUSTOMER} in batches of {BATCH_SIZE:,}, "
        f"under {work}",
        flush=True,
    )
    try:
        taxonomy, frame = customer_modules(modules)
        results: dict[str, object] = {"modules": modules, "batch_size": BATCH_SIZE}
        results["overhead"] = over = overhead(taxonomy, frame, repeat, work)
        print(
            f"  platform overhead {over['overhead_ms_per_module']:.3f} ms per module "
            f"(best {over['platform_best_seconds']:.2f} s vs bare "
            f"{over['bare_best_seconds']:.2f} s; target < {TARGET_OVERHEAD_MS:g} ms)",
            flush=True,
        )
        for backend in ("stand-in", "tfidf"):
            flow = throughput(backend, taxonomy, frame, batch_delay, in_flight, work)
            results[f"throughput_{backend.replace('-', '_')}"] = flow
            say_throughput(flow)
        return results
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--batch-delay", type=float, default=1.0, help="the tagger's s per batch")
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the overhead pair")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", type=Path, default=Path("bench/out/training.json"))
    args = parser.parse_args()
    results = run(args.modules, args.batch_delay, args.in_flight, args.repeat, args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
