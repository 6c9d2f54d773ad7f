"""How every reference server's `python -m ...` stops: SIGTERM or SIGINT, or the end of its
stdin when started with `--exit-on-stdin-eof` (a parent that dies, even by SIGKILL, closes
its end of the pipe, so the server never outlives it)."""

from __future__ import annotations

import signal
import sys
import threading


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def stop_on_stdin_eof(stop: threading.Event) -> None:
    """Set `stop` once stdin ends (watched by a daemon thread)."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            stop.set()

    threading.Thread(target=watch, name="stdin-eof", daemon=True).start()
