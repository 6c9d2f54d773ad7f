"""Long steps say where they are while they run: files done of the total, lines per second."""

import re

from assets.postings.augment import augment_postings_day, open_postings_day
from assets.progress import Progress
from scripts.sample_postings import write_sample_day
from tests.helpers import POSTINGS_DAY


def test_a_day_reports_each_file_read_and_written(storage, cache, model):
    write_sample_day(storage, POSTINGS_DAY, lines=3_000, files=3, seed=2)
    said: list[str] = []
    with (
        open_postings_day(storage, POSTINGS_DAY) as day,
        model.connect() as m,
        cache.connect() as c,
    ):
        augment_postings_day(day, c, m, say=said.append)

    # A cold cache: every file waits for the model, then is written.
    read = [s for s in said if "files read" in s]
    written = [s for s in said if "files written after the model" in s]
    assert [re.search(r"(\d+) of 3", s).group(1) for s in read][-1] == "3"
    assert written[-1].startswith(f"postings {POSTINGS_DAY}: 3 of 3 files written after the model")
    assert "3,000 lines (" in read[-1] and "lines per second" in read[-1]


def test_progress_is_said_at_most_every_interval_and_always_at_the_end():
    said: list[str] = []
    progress = Progress(
        said.append, "day", parts=4, unit="files", rows_unit="lines", every_seconds=60
    )
    for _ in range(4):
        progress.done(10)
    # The first three came within the interval; the last part is always said.
    assert len(said) == 1 and said[0].startswith("day: 4 of 4 files done, 40 lines (")
