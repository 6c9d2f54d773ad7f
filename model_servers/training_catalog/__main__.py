"""`python -m model_servers.training_catalog`: serve the reference catalog until SIGTERM or SIGINT.

Opens (creating and seeding it when missing or empty) the SQLite store given by `--db`, then
prints exactly one line, `LISTENING <host>:<port>`, once the port is bound, so a parent
process (the client resource, a test) can start it on `--port 0` and learn the port. Several
servers may share one `--db` file.
"""

from __future__ import annotations

import argparse
import sys

from model_servers.lifecycle import stop_on_signals, stop_on_stdin_eof
from model_servers.training_catalog.server import DEFAULT_DB_PATH, serve

GRACE_SECONDS = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m model_servers.training_catalog", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--db",
        default=str(DEFAULT_DB_PATH),
        metavar="PATH",
        help="the SQLite store, created and seeded if missing or empty (default: %(default)s)",
    )
    parser.add_argument("--max-workers", type=int, default=8)
    parser.add_argument(
        "--fail-first",
        type=int,
        default=0,
        metavar="N",
        help="answer the first N ApplyTags calls with UNAVAILABLE (fault tests)",
    )
    parser.add_argument(
        "--fail-apply-modules",
        default="",
        metavar="ID,ID",
        help="answer every ApplyTags call for these module ids with UNAVAILABLE (fault tests)",
    )
    parser.add_argument(
        "--delay-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="sleep S seconds before answering each catalog call (fault tests)",
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
        db_path=args.db,
        max_workers=args.max_workers,
        fail_first=args.fail_first,
        fail_apply_modules=[m.strip() for m in args.fail_apply_modules.split(",") if m.strip()],
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
