"""A backfill runs day after day in one process: the peak of a day must not grow with the
days done."""

import gc

from assets.weather.enrich import load_and_publish, stage_heat_index_day
from assets.weather.memory import PeakRss
from tests.helpers import write_weather_day

DAYS = ["2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04"]


def test_peak_memory_per_partition_does_not_grow(storage, warehouse):
    for day in DAYS:
        write_weather_day(storage, day, cities=300)  # about 430,000 rows a day
    peaks = []
    for day in DAYS:
        gc.collect()
        # The asset's path: stage block by block, then DuckDB loads the staged parts itself
        # while the files are published.
        with PeakRss() as peak:
            with stage_heat_index_day(storage, day, block_rows=150_000) as staged:
                assert staged.report.blocks > 1
                load_and_publish(staged, storage, warehouse)
            del staged
            gc.collect()
        peaks.append(peak.bytes)
    # The first day pays for one-off allocations (thread pools, allocator arenas); later
    # days must stay at the level of the second. Noise allowance: 20 % + 64 MiB.
    baseline = peaks[1]
    assert max(peaks[2:]) <= baseline * 1.2 + 64 * 2**20, [p / 2**20 for p in peaks]
