"""The dbt project (`dbt_project/`) as Dagster sees it, and the dbt CLI resource that runs it.

Importing this module parses nothing. The manifest Dagster builds its assets from is
prepared ahead of time, as dagster-dbt recommends:
- `make setup` runs `python -m scripts.prepare_dbt`, which parses into `target/<target>/`;
- under `dagster dev` (only there), it is re-parsed when a model changed since;
- a deployment image runs `dagster-dbt project prepare-and-package --file resources/dbt.py`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import using_dagster_dev

from resources import settings

log = logging.getLogger(__name__)

# The dbt installed beside this interpreter, so an unactivated venv still finds it.
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")


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
    starts over at the first build.
    """
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=project.manifest_path.parent, prefix=".parse-") as tmp:
        DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", "--quiet", *dbt_vars_args(dbt_vars or {})], target_path=Path(tmp)
        ).wait()
        os.replace(Path(tmp) / "manifest.json", project.manifest_path)
    return project.manifest_path


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


def build_dbt_resource(project: DbtProject = fieldwork_dbt_project) -> DbtCliResource:
    """The `dbt` resource: the dbt CLI on this project and target. The warehouse's own
    settings (the DuckDB file) reach dbt as `--vars` at each build, never through os.environ."""
    return DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
