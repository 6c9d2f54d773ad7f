"""A backfill runs day after day in one process: the peak of a day must not grow with the days done."""

import datetime as dt
import gc

from assets.weather.enrich import compute_heat_index_day
from assets.weather.memory import PeakRss
from assets.weather.sample_day import write_sample_day

DAYS = ["2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04"]


def test_peak_memory_per_partition_does_not_grow(storage, warehouse):
    for day in DAYS:
        write_sample_day(storage, day, cities=300)  # about 430,000 rows a day
    peaks = []
    for day in DAYS:
        gc.collect()
        with PeakRss() as peak:
            result = compute_heat_index_day(storage, day, block_rows=150_000)
            parts = [storage.uri(key) for key in result.report.output_keys]
            warehouse.replace_partition_from_parquet("raw.heat_index_readings", parts, "reading_date", dt.date.fromisoformat(day))
            del result
            gc.collect()
        peaks.append(peak.bytes)
    # The first day pays for one-off allocations (thread pools, allocator arenas); later
    # days must stay at the level of the second. Noise allowance: 20 % + 64 MiB.
    baseline = peaks[1]
    assert max(peaks[2:]) <= baseline * 1.2 + 64 * 2**20, [p / 2**20 for p in peaks]
