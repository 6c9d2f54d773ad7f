"""The day is computed into staged files that nobody sees until they are published."""

import dataclasses
from pathlib import Path

import polars as pl

from assets.weather.checks import reconcile_staged
from assets.weather.enrich import load_and_publish, stage_heat_index_day
from assets.weather.layout import (
    HEAT_INDEX_TABLE,
    QUARANTINE_TABLE,
    heat_index_key,
    heat_index_prefix,
    quarantine_key,
    quarantine_prefix,
)
from tests.helpers import WEATHER_DAY, published_weather_files


def files_on_disk(storage) -> set[str]:
    """Every file under the output folders, hidden ones included."""
    root = Path(storage.root)
    return {
        p.relative_to(root).as_posix()
        for prefix in ("heat-index-readings", "weather-quarantine")
        for p in (root / prefix).rglob("*")
        if p.is_file()
    }


def test_staged_files_are_invisible_and_vanish_unless_published(storage, sample_day):
    with stage_heat_index_day(storage, WEATHER_DAY, block_rows=30_000) as staged:
        assert len(staged.parts) == 3
        assert all(part.path.is_file() for part in staged.parts)
        assert storage.list_keys(heat_index_prefix(WEATHER_DAY)) == []
        assert storage.list_keys(quarantine_prefix(WEATHER_DAY)) == []
        # Nor does a reader globbing the folder (staged files are hidden .tmp files).
        assert list(Path(storage.uri(heat_index_prefix(WEATHER_DAY))).glob("*.parquet")) == []
    assert files_on_disk(storage) == set()


def test_staging_says_each_block_done_while_it_runs(storage, sample_day):
    said: list[str] = []
    with stage_heat_index_day(storage, WEATHER_DAY, block_rows=30_000, say=said.append) as staged:
        rows_in = staged.report.rows_in
    # Three blocks: the last is always said, with every reading counted.
    assert said[-1].startswith(f"heat index {WEATHER_DAY}: 3 of 3 blocks done, {rows_in:,} ")
    assert said[-1].endswith("readings per second)")


def test_the_reconcile_counts_what_was_staged(storage, sample_day):
    with stage_heat_index_day(storage, WEATHER_DAY, block_rows=30_000) as staged:
        result = reconcile_staged(staged)
        figures = {k: v.value for k, v in result.metadata.items()}
        assert result.passed
        assert figures["rows_in"] == sample_day.rows
        valid = pl.read_parquet([part.path for part in staged.parts]).height
        quarantine = pl.read_parquet(staged.quarantine_file.path)
        assert (figures["rows_valid"], figures["rows_quarantined"]) == (valid, quarantine.height)
        assert figures["quarantine_reasons"] == dict(
            quarantine.group_by("reason").len().sort("reason").iter_rows()
        )

        # Counted from the staged files, not from the step's own tally: a part missing
        # from what would be published shows.
        lost = reconcile_staged(dataclasses.replace(staged, parts=staged.parts[:-1]))
        assert not lost.passed
        assert lost.metadata["difference"].value == pl.read_parquet(staged.parts[-1].path).height


def test_load_and_publish_puts_files_and_rows_in_place_together(storage, warehouse, sample_day):
    with stage_heat_index_day(storage, WEATHER_DAY, block_rows=30_000) as staged:
        loaded = load_and_publish(staged, storage, warehouse)
    assert storage.list_keys(heat_index_prefix(WEATHER_DAY)) == [
        heat_index_key(WEATHER_DAY, part) for part in range(3)
    ]
    assert storage.list_keys(quarantine_prefix(WEATHER_DAY)) == [quarantine_key(WEATHER_DAY)]
    assert files_on_disk(storage) == set(published_weather_files(storage))  # nothing staged left
    assert staged.report.output_keys == storage.list_keys(heat_index_prefix(WEATHER_DAY))
    published = pl.read_parquet(storage.uri(heat_index_prefix(WEATHER_DAY)) + "/*.parquet")
    quarantine = pl.read_parquet(storage.uri(quarantine_key(WEATHER_DAY)))
    assert loaded == {HEAT_INDEX_TABLE: published.height, QUARANTINE_TABLE: quarantine.height}
    assert published.height + quarantine.height == sample_day.rows


def test_staging_files_of_a_killed_run_are_removed_by_the_next_one(resources, storage, tmp_path):
    """A dead process's staged part (as `staging_file` names them: host and pid) goes; the
    day is published as usual."""
    import subprocess
    import sys

    from resources.object_storage import _this_host
    from tests.helpers import WEATHER_DAY, materialize_weather, write_weather_day

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_weather_day(storage)
    folder = tmp_path / "data" / "heat-index-readings" / WEATHER_DAY
    folder.mkdir(parents=True)
    left = folder / f".part-000.parquet.x1y2.{_this_host()}-{dead.pid}.tmp"
    left.write_bytes(b"half a part")

    assert materialize_weather(resources).success
    assert not left.exists()
    assert storage.list_keys(f"heat-index-readings/{WEATHER_DAY}/")
