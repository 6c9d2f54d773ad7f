"""`python -m model_servers.openai_compatible`: serve chat completions until SIGTERM or SIGINT.

Prints exactly one line, `LISTENING <host>:<port>`, once bound; the base URL for a client is
then `http://<host>:<port>/v1`.
"""

from __future__ import annotations

import argparse
import os
import sys

from model_servers.lifecycle import stop_on_signals, stop_on_stdin_eof
from model_servers.openai_compatible.server import DEFAULT_MODEL, FAULT_MODES, Fault, serve


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m model_servers.openai_compatible", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the one model name served")
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="MODE[=GLOB]",
        help=f"answer matching module ids wrongly ({', '.join(FAULT_MODES)}); repeatable",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="require `Authorization: Bearer <value of NAME>` on every request",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes: a parent that dies, even by SIGKILL, leaves no orphan",
    )
    args = parser.parse_args(argv)
    if args.api_key_env and not os.environ.get(args.api_key_env):
        parser.error(f"--api-key-env names {args.api_key_env}, which is not set")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = stop_on_signals()
    api_key = os.environ[args.api_key_env] if args.api_key_env else None
    server, port = serve(
        args.host, args.port, model=args.model, faults=tuple(args.fault), api_key=api_key
    )
    if args.exit_on_stdin_eof:
        stop_on_stdin_eof(stop)
    print(f"LISTENING {args.host}:{port}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
