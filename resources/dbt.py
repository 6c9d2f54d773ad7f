"""The dbt project (`dbt_project/`) as Dagster sees it, and the dbt CLI resource that runs it.

Importing this module parses nothing. The manifest Dagster builds its assets from is
prepared ahead of time, as dagster-dbt recommends:
- `make setup` runs `python -m scripts.prepare_dbt`, which parses into `target/<target>/`;
- under `dagster dev` (only there), it is re-parsed when a model changed since;
- a deployment image runs `dagster-dbt project prepare-and-package --file resources/dbt.py`.

Each build reuses dbt's partial parse (`target/<target>/partial_parse.msgpack`, left there by
the preparation and refreshed by every build): only what changed since is parsed again. Two
things would defeat it, and are avoided (`dbt_invocation`):
- the run's values (its days, its customer) reach the macros as environment variables of the
  dbt process (`FIELDWORK_MIN_DATE`, ...), read at execution only, never as `--vars`: any
  change of `--vars` makes dbt parse the whole project again;
- dagster-dbt's folder per invocation (`target/<uuid>`), which starts without the partial
  parse and stays behind: each build runs in a folder of its own under `target/<target>/`,
  which is removed once the build is done, its partial parse kept for the next build.
dbt's log goes to one file, `dbt_project/logs/dbt.log` (rotated by dbt), not to a file per
invocation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from dagster_dbt.compat import DBT_PYTHON_VERSION
from dagster_dbt.dbt_project import using_dagster_dev

from resources import settings

if TYPE_CHECKING:
    from packaging.version import Version

log = logging.getLogger(__name__)

# The dbt installed beside this interpreter, so an unactivated venv still finds it.
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")


# The run's values the macros read, and the environment variable each reaches dbt as
# (dbt_project/macros/incremental_days.sql, incremental_customers.sql).
RUN_ENV = {
    "min_date": "FIELDWORK_MIN_DATE",
    "max_date": "FIELDWORK_MAX_DATE",
    "customer_id": "FIELDWORK_CUSTOMER_ID",
}
PARTIAL_PARSE = "partial_parse.msgpack"
LOG_DIR = "logs"
# os.environ is the process's: one dbt process is started at a time with the run's values.
_ENV_LOCK = threading.Lock()


class FieldworkDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource, told the version of the dbt it runs when that is the
    dbt installed beside this interpreter: dagster-dbt would otherwise start `dbt --version`
    in each run (6-10 s, and a request to PyPI for the latest version, which hangs where
    there is no internet)."""

    @cached_property
    def _cli_version(self) -> Version:
        # In a venv, the dbt beside the interpreter is the dbt-core installed in it (outside
        # one, bin/ may hold another dbt, such as dbt Fusion).
        in_venv = sys.prefix != sys.base_prefix
        if in_venv and DBT_PYTHON_VERSION is not None and Path(self.dbt_executable) == _VENV_DBT:
            return DBT_PYTHON_VERSION
        return super()._cli_version


class ManifestMissing(FileNotFoundError):
    """The dbt manifest was not prepared; says which command prepares it."""


def build_dbt_project(project_dir: Path = settings.DBT_PROJECT_DIR) -> DbtProject:
    """The dbt project on the target matching the warehouse (`local` or `snowflake`).

    Each target keeps its own manifest (`target/<target>/manifest.json`): relation names in
    it differ by target, and Dagster reads them to link tables.
    """
    target = settings.dbt_target()
    return DbtProject(
        project_dir=project_dir,
        profiles_dir=project_dir,
        target=target,
        target_path=Path("target") / target,
    )


def dbt_vars_args(dbt_vars: Mapping[str, object]) -> list[str]:
    """`--vars` for a dbt command, or nothing when there are none."""
    return ["--vars", json.dumps(dict(dbt_vars), sort_keys=True)] if dbt_vars else []


def prepare_manifest(project: DbtProject, dbt_vars: Mapping[str, object] | None = None) -> Path:
    """`dbt parse` into a private folder, then move the manifest into place atomically, so
    processes that load the definitions meanwhile never read half a file.

    `dbt_vars` must be those the builds pass (the warehouse's), or dbt's partial parsing
    starts over at the first build. The partial parse it writes is kept beside the manifest,
    where the builds start from it.
    """
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=project.manifest_path.parent, prefix=".parse-") as tmp:
        FieldworkDbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", "--quiet", *dbt_vars_args(dbt_vars or {}), *log_args(project.project_dir)],
            target_path=Path(tmp),
        ).wait()
        keep_partial_parse(Path(tmp), project.manifest_path.parent)
        os.replace(Path(tmp) / "manifest.json", project.manifest_path)
    return project.manifest_path


def log_args(project_dir: Path | str) -> list[str]:
    """dbt's log to one file, `<project>/logs/dbt.log`, as text (dagster-dbt would write JSON to
    the invocation's folder); the console output dagster-dbt reads is unchanged."""
    return ["--log-path", str(Path(project_dir) / LOG_DIR), "--log-format-file", "text"]


def dbt_log_path(project_dir: Path | str = settings.DBT_PROJECT_DIR) -> Path:
    """The file dbt's builds and parses log to."""
    return Path(project_dir) / LOG_DIR / "dbt.log"


def keep_partial_parse(invocation_dir: Path, shared_dir: Path) -> None:
    """The invocation's partial parse becomes the one the next builds start from, replaced
    atomically (a build starting meanwhile copies the old or the new one, whole)."""
    source = invocation_dir / PARTIAL_PARSE
    if not source.exists():
        return
    with tempfile.NamedTemporaryFile(dir=shared_dir, prefix=".partial-", delete=False) as tmp:
        pass
    try:
        shutil.copyfile(source, tmp.name)
        os.replace(tmp.name, shared_dir / PARTIAL_PARSE)
    finally:
        Path(tmp.name).unlink(missing_ok=True)


def run_env(run_values: Mapping[str, str]) -> dict[str, str]:
    """The run's values as the environment variables the macros read; a value without one is
    refused, naming it and those there are."""
    unknown = sorted(set(run_values) - set(RUN_ENV))
    if unknown:
        raise ValueError(
            f"dbt run values {unknown} have no environment variable; known: {sorted(RUN_ENV)}"
        )
    return {RUN_ENV[name]: str(value) for name, value in run_values.items()}


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` set and the other run variables unset, for the dbt process
    started inside (dagster-dbt passes os.environ to it); restored after."""
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in RUN_ENV.values()}
        try:
            for name in RUN_ENV.values():
                os.environ.pop(name, None)
            os.environ.update(values)
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def dbt_invocation(
    dbt: DbtCliResource,
    args: Sequence[str],
    *,
    context: dg.AssetExecutionContext | dg.OpExecutionContext | None = None,
    run_values: Mapping[str, str] | None = None,
) -> Iterator[DbtCliInvocation]:
    """`dbt.cli(args)` with the run's values (`min_date`, `max_date`, `customer_id`) as
    environment variables, starting from the project's partial parse, logging to
    `logs/dbt.log`; once the block ends, the build's partial parse replaces the project's and
    its folder is removed.

    Stream the invocation inside the block: its artifacts (run_results.json, compiled SQL)
    are gone after it.
    """
    env = run_env(run_values or {})
    shared = Path(dbt.project_dir) / "target" / (dbt.target or "default")
    shared.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=shared, prefix=".build-"))
    try:
        if (shared / PARTIAL_PARSE).exists():
            shutil.copyfile(shared / PARTIAL_PARSE, folder / PARTIAL_PARSE)
        with _environment(env):
            invocation = dbt.cli(
                [*args, *log_args(dbt.project_dir)], context=context, target_path=folder
            )
        yield invocation
    finally:
        # dbt writes the partial parse once it has parsed: a build whose tests failed has one.
        with contextlib.suppress(OSError):
            keep_partial_parse(folder, shared)
        shutil.rmtree(folder, ignore_errors=True)


def manifest_path(project: DbtProject) -> Path:
    """The prepared manifest, or a clear error saying how to prepare it."""
    if not project.manifest_path.exists():
        raise ManifestMissing(
            f"no dbt manifest at {project.manifest_path}: run `make setup` "
            "(or `python -m scripts.prepare_dbt`) to prepare it"
        )
    return project.manifest_path


def manifest_is_stale(project: DbtProject) -> bool:
    """Whether a model, seed, test, macro or the project's configuration changed since the
    manifest was prepared (or there is none)."""
    if not project.manifest_path.exists():
        return True
    prepared = project.manifest_path.stat().st_mtime
    root = Path(project.project_dir)
    sources = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in ("models", "seeds", "tests", "macros", "snapshots"):
        sources.extend(path for path in (root / folder).rglob("*") if path.is_file())
    return any(path.exists() and path.stat().st_mtime > prepared for path in sources)


fieldwork_dbt_project = build_dbt_project()
# Under `dagster dev` the manifest follows edits to the models, as `prepare_if_dev()` would,
# but only when something changed: `dagster dev` passes its flag to every run worker, and
# parsing at each run's start would cost 10-20 s.
if using_dagster_dev() and manifest_is_stale(fieldwork_dbt_project):
    prepare_manifest(fieldwork_dbt_project)
elif manifest_is_stale(fieldwork_dbt_project) and fieldwork_dbt_project.manifest_path.exists():
    log.warning(
        "dbt models changed since %s was prepared; run `make setup` to see the changes",
        fieldwork_dbt_project.manifest_path,
    )


def build_dbt_resource(project: DbtProject = fieldwork_dbt_project) -> FieldworkDbtCliResource:
    """The `dbt` resource: the dbt CLI on this project and target. The warehouse's own
    settings (the DuckDB file) reach dbt as `--vars` at each build, never through os.environ."""
    return FieldworkDbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
