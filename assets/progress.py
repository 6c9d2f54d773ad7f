"""Progress of a long step, said while it runs: parts done of the total, rows per second.

The step's work calls `done(rows)` after each part (a file, a block); the message goes to
`say` (the run's log in an asset, nothing in a benchmark), at most every `every_seconds`
and always for the last part, so a long day shows where it is without flooding the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_EVERY_SECONDS = 10.0


class Progress:
    def __init__(
        self,
        say: Callable[[str], None] | None,
        label: str,
        parts: int,
        unit: str,
        rows_unit: str,
        every_seconds: float = PROGRESS_EVERY_SECONDS,
    ) -> None:
        self.say, self.label, self.parts = say, label, parts
        self.unit, self.rows_unit, self.every = unit, rows_unit, every_seconds
        self.done_parts = self.rows = 0
        self.started = self.last = time.monotonic()

    def done(self, rows: int) -> None:
        self.done_parts += 1
        self.rows += rows
        now = time.monotonic()
        if self.say is None or (self.done_parts < self.parts and now - self.last < self.every):
            return
        self.last = now
        rate = self.rows / max(now - self.started, 1e-9)
        self.say(
            f"{self.label}: {self.done_parts} of {self.parts} {self.unit} done, "
            f"{self.rows:,} {self.rows_unit} ({rate:,.0f} {self.rows_unit} per second)"
        )
