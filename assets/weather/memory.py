"""Peak resident memory of this process over a block of work, for run metadata and benchmarks.

On Linux the kernel's high-water mark (VmHWM) is reset at the start of the block by
writing 5 to /proc/self/clear_refs, so the figure is the exact peak of the block, not of
the process's whole life. Elsewhere a 10 ms sampling thread stands in.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_bytes() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRss:
    """`with PeakRss() as peak: ...` then `peak.bytes` (peak RSS) and `peak.start_bytes`."""

    def __enter__(self) -> PeakRss:
        self.start_bytes = current_rss_bytes()
        self._exact = False
        try:
            _CLEAR_REFS.write_text("5")
            self._exact = _status_kib("VmHWM") is not None
        except OSError:
            pass
        self.bytes = self.start_bytes
        if not self._exact:
            self._running = True
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.bytes = max(self.bytes, current_rss_bytes())
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        if self._exact:
            self.bytes = max(self.start_bytes, (_status_kib("VmHWM") or 0) * 1024)
        else:
            self._running = False
            self._thread.join()
            self.bytes = max(self.bytes, current_rss_bytes())

    @property
    def mib(self) -> float:
        return self.bytes / 2**20
