"""Every notebook runs top to bottom against the local defaults, and its answers are right.

The platform is prepared once for the session (conftest.py: three days of postings and
weather, one customer of the training family with a reviewer's edits, every model built);
each notebook is executed in a fresh `python3` kernel pointed at it, and its printed answers
are checked against figures computed here from the edits made and the tables themselves, not
through the notebooks' helpers.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import nbformat
import polars as pl
import pytest
from nbclient import NotebookClient

from assets import catalog
from assets.weather.layout import cities_key
from notebooks.fieldwork_notebooks.impact import signed_label
from notebooks.fieldwork_notebooks.labels import fahrenheit_label, share_label
from tests.helpers import TRAINING_CUSTOMER
from tests.notebooks.conftest import BAD_LINES, DAYS

pytestmark = pytest.mark.xdist_group("notebooks")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# The level names as the dbt seed declares them: the tests' own reading, not the warehouse's.
SENIORITY_LEVELS = ROOT / "dbt_project" / "seeds" / "seniority_levels.csv"


def run_notebook(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def images(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_committed_notebooks_have_no_outputs():
    """Outputs belong to a run, not to the repository: they bloat diffs and go stale."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_seniority_mix_runs_top_to_bottom(local):
    """Its answers match the same figures computed here from the postings table itself."""
    notebook = run_notebook("seniority_mix.ipynb")

    text = printed(notebook)
    postings = catalog.load("augmented_job_postings")
    names = dict(pl.read_csv(SENIORITY_LEVELS).rows())
    assert f"total postings: {sum(DAYS.values()):,}" in text, text
    assert f"days: {len(DAYS)} (2026-11-19 .. 2026-11-21)" in text, text
    assert f"quarantined lines: {len(BAD_LINES)}" in text, text
    # Overall: every level, its postings and its share.
    counts = dict(postings["seniority"].value_counts().rows())
    for level, name in names.items():
        n = counts.get(level, 0)
        assert f"{name}: {n:,} postings ({share_label(n / postings.height)})" in text, text
    # The fixture's days hold rare levels: their shares keep a decimal instead of reading 0%.
    assert re.search(r"postings \((0\.\d|<0\.1)%\)", text), text
    # The ten biggest companies: the one hiring most at Manager or above.
    top = (
        postings.group_by("company_normalized")
        .agg(n=pl.len(), senior=(pl.col("seniority") >= 4).mean())
        .sort(["n", "company_normalized"], descending=[True, False])
        .head(10)
    )
    most_senior = top.filter(pl.col("senior") == pl.col("senior").max())
    spellings = postings.filter(
        pl.col("company_normalized").is_in(most_senior["company_normalized"].implode())
    )["company"]
    said = re.search(r"most senior hiring of the ten: (.+) \((\S+) of its postings", text)
    assert said and said[1] in spellings.to_list(), text
    assert said[2] == share_label(most_senior["senior"][0]), text
    # Day by day: the level whose share moved most from the first day to the last.
    by_day = (
        postings.group_by("posting_date", "seniority")
        .len()
        .with_columns(share=pl.col("len") / pl.col("len").sum().over("posting_date"))
    )
    first, last = (
        dict(
            by_day.filter(pl.col("posting_date") == dt.date.fromisoformat(day))
            .select("seniority", "share")
            .rows()
        )
        for day in (min(DAYS), max(DAYS))
    )
    moved = max(names, key=lambda level: abs(last.get(level, 0) - first.get(level, 0)))
    before, after = first.get(moved, 0), last.get(moved, 0)
    assert (
        f"biggest change from {min(DAYS)} to {max(DAYS)}: {names[moved]} "
        f"{share_label(before)} -> {share_label(after)} ({(after - before) * 100:+.1f} points)"
    ) in text, text
    # Overall mix, the ten biggest companies, by day.
    assert images(notebook) == 3


def test_heat_index_trends_runs_top_to_bottom(local):
    """Its answers match the same figures computed here from every valid reading and the city
    files the producer wrote, not from the marts the notebook reads."""
    from resources import build_storage

    notebook = run_notebook("heat_index_trends.ipynb")

    text = printed(notebook)
    readings = catalog.load("heat_index_readings")
    storage = build_storage()
    cities = pl.concat(
        pl.read_parquet(io.BytesIO(storage.read_bytes(cities_key(day)))) for day in DAYS
    ).unique("city_id")
    readings = readings.join(cities.select("city_id", "city_name", "region"), on="city_id")
    regions = readings["region"].unique()
    assert f"days: {len(DAYS)} (2026-11-19 .. 2026-11-21)" in text, text
    assert f"cities: {readings['city_id'].n_unique()} in {regions.len()} regions" in text, text
    assert f"valid one-minute readings: {readings.height:,}" in text, text
    # Over the days: the share of city-minutes at risk, at danger or above, and the peak.
    danger = pl.col("heat_risk").is_in(["danger", "extreme danger"]).fill_null(False)
    per_day = readings.group_by("reading_date").agg(
        at_risk=pl.col("heat_risk").is_not_null().mean(),
        danger=danger.mean(),
        peak=pl.col("heat_index_f").max(),
    )
    for day, at_risk, in_danger, peak in per_day.sort("reading_date").rows():
        assert (
            f"{day}: {share_label(at_risk)} of city-minutes at heat risk, "
            f"{share_label(in_danger)} at danger or above; peak {fahrenheit_label(peak)}"
        ) in text, text
    # The hottest city: the hottest reading of all.
    hottest = readings.sort("heat_index_f", descending=True).row(0, named=True)
    assert (
        f"hottest city: {hottest['city_name']} ({hottest['region']}), "
        f"{fahrenheit_label(hottest['heat_index_f'])} on {hottest['reading_date']} "
        f"({hottest['heat_risk']})"
    ) in text, text
    # The regions: those whose cities never reached 80 F are named.
    never = readings.group_by("region").agg(risk=pl.col("heat_risk").is_not_null().any())
    never = sorted(never.filter(~pl.col("risk"))["region"])
    assert f"never at risk: {', '.join(never) or 'none'}" in text, text
    # Risk by day, mean by region and day, the hottest cities, the hottest city's day, the
    # regions' hours at risk.
    assert images(notebook) == 5


def test_make_notebooks_on_an_empty_folder_names_what_to_run(empty, capsys):
    """`make notebooks` before `make demo`: the catalog's message, not a cascade of errors."""
    from scripts.run_notebooks import main

    out = empty / "executed"
    assert main(["heat_index_trends.ipynb", "--out", str(out)]) == 1

    said = capsys.readouterr().out
    assert re.search(r"FAILED heat_index_trends.ipynb: NotMaterializedError: .*make demo", said)
    # One plain line: IPython's colours stay in the executed copy, out of the terminal.
    assert "\x1b" not in said, said
    executed = nbformat.read(out / "heat_index_trends.ipynb", as_version=4)
    [error] = [
        output
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert error.ename == "NotMaterializedError"
    assert error.evalue.startswith("city_day_heat_index: no warehouse snapshot at "), error


def warehouse_frame(sql: str, *tables: str) -> pl.DataFrame:
    """`sql` on the warehouse's reader side, `{}` standing for each of `tables` in turn: the
    tests' own reading, not the catalog's."""
    from resources import build_warehouse

    warehouse = build_warehouse()
    return warehouse.read(sql.format(*(warehouse.relation(t) for t in tables)))


def test_tag_review_runs_top_to_bottom(local):
    """Its answers match what the test's reviewer did to the review file and what the
    suggestions step reported (its materialization's own figures)."""
    notebook = run_notebook("tag_review.ipynb")

    text = printed(notebook)
    edits, figures = local.edits, local.suggestion_figures
    modules, approved = len(edits.modules), len(edits.approved)
    assert f"customer: {TRAINING_CUSTOMER}" in text, text
    assert (
        f"modules in the review: {modules:,}; approved: {approved:,} "
        f"({share_label(approved / modules)})"
    ) in text, text
    # An abstention is a module laid out with no suggested tag: as many as the model made.
    abstentions = len(edits.abstentions)
    assert abstentions == figures["abstentions"], figures
    assert (
        f"suggested tags: {figures['tags_suggested']:,} on {modules - abstentions:,} modules; "
        f"abstentions: {abstentions:,} modules ({share_label(abstentions / modules)})"
    ) in text, text
    changed = set(edits.added) | set(edits.removed)
    added = sum(len(tags) for tags in edits.added.values())
    removed = sum(len(tags) for tags in edits.removed.values())
    assert (
        f"modules the customer changed: {len(changed):,} ({share_label(len(changed) / modules)}); "
        f"tags added {added:,}, removed {removed:,}"
    ) in text, text
    replaced = set(edits.added) & set(edits.removed) - edits.abstentions
    tagged = set(edits.added) & edits.abstentions
    for outcome, found in (
        ("tags replaced", replaced),
        ("tags added", set(edits.added) - replaced - edits.abstentions),
        ("tags removed", set(edits.removed) - replaced),
        ("abstention, tagged", tagged),
        ("abstention, left empty", edits.abstentions - tagged),
        ("as suggested", set(edits.modules) - changed - edits.abstentions),
    ):
        assert (
            f"{outcome}: {len(found):,} modules ({share_label(len(found) / modules)}), "
            f"{len(found & edits.approved):,} approved"
        ) in text, (outcome, text)
    # Confidence against removals: each band's suggestions and removals, from the table.
    suggestions = warehouse_frame(
        f"select module_id, tag_id, confidence from {{}} where customer_id = '{TRAINING_CUSTOMER}'",
        "raw.tag_suggestions",
    )
    gone = {(m, t) for m, tags in edits.removed.items() for t in tags}
    low = suggestions.filter(pl.col("confidence") < 0.5)
    low_removed = sum((m, t) in gone for m, t in low.select("module_id", "tag_id").rows())
    if low.height:
        assert (
            f"confidence 0.00-0.50: {low_removed:,} of {low.height:,} suggestions removed "
            f"({share_label(low_removed / low.height)})"
        ) in text, text
    # Confidence bands, outcomes by approval, tags kept/removed/added, removals by confidence.
    assert images(notebook) == 4


def test_training_impact_runs_top_to_bottom(local):
    """Its answers are the mart's own figures, read here straight from the warehouse."""
    notebook = run_notebook("training_impact.ipynb")

    text = printed(notebook)
    impact = warehouse_frame(
        "select t.*, x.tag_label from {} t join {} x using (customer_id, tag_id) "
        f"where t.customer_id = '{TRAINING_CUSTOMER}'",
        "analytics.training_impact",
        "staging.stg_training__taxonomy",
    )
    estimable = impact.filter(pl.col("performance_difference").is_not_null())
    # The reviewer's approved tags reached the catalog: most tags can be estimated.
    assert estimable.height >= impact.height // 2, impact
    [metric] = impact["metric"].unique().to_list()
    assert f"metric: {metric}\n" in text, text
    assert f"tags: {impact.height}; estimable: {estimable.height}" in text, text
    raises = estimable.filter(pl.col("confidence_interval_low") > 0).sort(
        "performance_difference", descending=True
    )
    if raises.height:
        listed = re.search(r"^raises \(.*\): (.+)$", text, re.MULTILINE)
        assert listed and set(listed[1].split(", ")) == set(raises["tag_label"]), text
    unclear = estimable.filter(
        (pl.col("confidence_interval_low") <= 0) & (pl.col("confidence_interval_high") >= 0)
    )
    if unclear.height:
        listed = re.search(r"^unclear \(.*\): (.+)$", text, re.MULTILINE)
        assert listed and set(listed[1].split(", ")) == set(unclear["tag_label"]), text
    best = estimable.sort("performance_difference", descending=True).row(0, named=True)
    assert (
        f"largest effect: {best['tag_label']} {signed_label(best['performance_difference'])} "
        f"points [{signed_label(best['confidence_interval_low'])}, "
        f"{signed_label(best['confidence_interval_high'])}] over {best['learners_trained']:,} "
        "learners"
    ) in text, text
    # Effects with their intervals, before and after, learners trained.
    assert images(notebook) == 3
