"""`python -m model_servers.tagging`: serve the tagging model until SIGTERM or SIGINT.

Prints exactly one line, `LISTENING <host>:<port>`, once the port is bound, so a parent
process (the client resource, a test) can start it on `--port 0` and learn the port.
`--backend chat` sends the modules to an OpenAI-compatible endpoint; its API key is read
from the environment variable `--chat-api-key-env` names (this is the model server's own
process, not the platform's).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from model_servers.lifecycle import stop_on_signals, stop_on_stdin_eof
from model_servers.tagging.backends import Backend, StandInBackend, TfidfBackend
from model_servers.tagging.faults import GARBAGE_MODES, parse_garbage
from model_servers.tagging.model import MIN_APPROVED_MODULES
from model_servers.tagging.server import DEFAULT_MAX_BATCH_SIZE, serve

GRACE_SECONDS = 5.0
# Local endpoints (vLLM, Ollama) ignore the key, but the openai client insists on one.
NO_API_KEY = "no-key"


def _garbage_modes(text: str) -> tuple[str, ...]:
    try:
        return parse_garbage(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _module_ids(text: str) -> tuple[str, ...]:
    ids = tuple(module_id.strip() for module_id in text.split(",") if module_id.strip())
    if not ids:
        raise argparse.ArgumentTypeError(f"no module id in {text!r}")
    return ids


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_servers.tagging", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--max-workers", type=int, default=8)
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=DEFAULT_MAX_BATCH_SIZE,
        metavar="N",
        help="refuse batches over N modules and declare N in DescribeModel (0: no limit)",
    )
    parser.add_argument(
        "--min-approved",
        type=int,
        default=MIN_APPROVED_MODULES,
        metavar="N",
        help="approved modules a customer needs before its own classifier is trained",
    )
    parser.add_argument(
        "--backend",
        choices=("tfidf", "chat", "stand-in"),
        default="tfidf",
        help="stand-in: tags from a hash of the text in no time, for benchmarks",
    )
    chat = parser.add_argument_group("chat backend (--backend chat)")
    chat.add_argument("--chat-base-url", help="e.g. http://127.0.0.1:8000/v1")
    chat.add_argument("--chat-model", help="the model name the endpoint serves")
    chat.add_argument(
        "--chat-api-key-env",
        metavar="NAME",
        help="environment variable holding the API key (none: the endpoint needs no key)",
    )
    chat.add_argument("--chat-shortlist-size", type=int, default=5, metavar="K")
    chat.add_argument("--chat-batch-size", type=int, default=1, metavar="N")
    chat.add_argument("--chat-concurrency", type=int, default=4, metavar="N")
    chat.add_argument("--chat-timeout-seconds", type=float, default=60.0, metavar="S")
    chat.add_argument("--chat-max-retries", type=int, default=2, metavar="N")
    faults = parser.add_argument_group("fault switches (client and check tests)")
    faults.add_argument(
        "--fail-first",
        type=int,
        default=0,
        metavar="N",
        help="answer the first N SuggestTags calls with UNAVAILABLE",
    )
    faults.add_argument("--stall", action="store_true", help="accept calls and never answer")
    faults.add_argument(
        "--seconds-per-module",
        type=float,
        default=0.0,
        metavar="S",
        help="wait S seconds before each reply: slow but steady",
    )
    faults.add_argument(
        "--batch-delay-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="wait S seconds before each batch's first reply: a model with a fixed time per batch",
    )
    faults.add_argument(
        "--garbage",
        type=_garbage_modes,
        default=(),
        metavar="MODE[,MODE]",
        help=f"answer wrongly on purpose: {', '.join(GARBAGE_MODES)}",
    )
    faults.add_argument(
        "--faults-only-for",
        type=_module_ids,
        default=(),
        metavar="MODULE_ID[,MODULE_ID]",
        help="apply the fault switches only to requests asking about one of these modules",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes: a parent that dies, even by SIGKILL, leaves no orphan",
    )
    args = parser.parse_args(argv)
    if args.backend == "chat" and not (args.chat_base_url and args.chat_model):
        parser.error("--backend chat needs --chat-base-url and --chat-model")
    if args.batch_delay_seconds < 0:
        parser.error(f"--batch-delay-seconds must be 0 or more, got {args.batch_delay_seconds}")
    if args.chat_api_key_env and not os.environ.get(args.chat_api_key_env):
        parser.error(f"--chat-api-key-env names {args.chat_api_key_env}, which is not set")
    return args


def build_backend(args: argparse.Namespace) -> Backend:
    if args.backend == "tfidf":
        return TfidfBackend(min_approved=args.min_approved)
    if args.backend == "stand-in":
        return StandInBackend()
    from model_servers.tagging.chat import ChatBackend  # imports openai: only when asked

    return ChatBackend(
        args.chat_base_url,
        args.chat_model,
        os.environ[args.chat_api_key_env] if args.chat_api_key_env else NO_API_KEY,
        shortlist_size=args.chat_shortlist_size,
        batch_size=args.chat_batch_size,
        concurrency=args.chat_concurrency,
        timeout_seconds=args.chat_timeout_seconds,
        max_retries=args.chat_max_retries,
        min_approved=args.min_approved,
    )


def warm_up() -> None:
    """Import what the model needs (about 5 s here) while no request waits for it."""
    from model_servers.tagging.model import load_libraries

    load_libraries()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = stop_on_signals()

    server, port = serve(
        args.host,
        args.port,
        max_workers=args.max_workers,
        backend=build_backend(args),
        max_batch_size=args.max_batch_size,
        fail_first=args.fail_first,
        stall=args.stall,
        seconds_per_module=args.seconds_per_module,
        garbage=args.garbage,
        batch_delay_seconds=args.batch_delay_seconds,
        faults_only_for=args.faults_only_for,
    )
    if args.exit_on_stdin_eof:
        stop_on_stdin_eof(stop)
    print(f"LISTENING {args.host}:{port}", flush=True)
    if args.backend != "stand-in":  # the stand-in needs none of the model's libraries
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    stop.wait()
    server.health.enter_graceful_shutdown()  # type: ignore[attr-defined]
    # A stalled call would hold the grace period: stop at once when the server stalls.
    server.stop(0 if args.stall else GRACE_SECONDS).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
