"""`python -m model_servers.seniority`: serve the reference model until SIGTERM or SIGINT.

Prints exactly one line, `LISTENING <host>:<port>`, once the port is bound, so a parent
process (the client resource, a test) can start it on `--port 0` and learn the port.
"""

from __future__ import annotations

import argparse
import sys

from model_servers.lifecycle import stop_on_signals, stop_on_stdin_eof
from model_servers.seniority.server import DEFAULT_MAX_BATCH_SIZE, serve

GRACE_SECONDS = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_servers.seniority", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=DEFAULT_MAX_BATCH_SIZE,
        metavar="N",
        help="refuse batches over N pairs and declare N in DescribeModel (0: no limit)",
    )
    parser.add_argument("--max-workers", type=int, default=8)
    parser.add_argument(
        "--fail-first",
        type=int,
        default=0,
        metavar="N",
        help="answer the first N InferSeniority calls with UNAVAILABLE (fault tests)",
    )
    parser.add_argument(
        "--delay-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="sleep S seconds before answering each InferSeniority call (fault tests)",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes: a parent that dies, even by SIGKILL, leaves no orphan",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = stop_on_signals()

    server, port = serve(
        args.host,
        args.port,
        max_workers=args.max_workers,
        max_batch_size=args.max_batch_size,
        fail_first=args.fail_first,
        delay_seconds=args.delay_seconds,
    )
    if args.exit_on_stdin_eof:
        stop_on_stdin_eof(stop)
    print(f"LISTENING {args.host}:{port}", flush=True)
    stop.wait()
    server.health.enter_graceful_shutdown()  # type: ignore[attr-defined]
    server.stop(GRACE_SECONDS).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
