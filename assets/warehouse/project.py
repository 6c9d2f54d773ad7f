"""The dbt project (`dbt_project/`) as Dagster sees it, and the dbt CLI resource that runs it.

The manifest Dagster builds its assets from is prepared here, once per process:
- under `dagster dev`, re-parsed at every load to pick up edits (what `prepare_if_dev` does);
- elsewhere (tests, `make demo`, a fresh clone) parsed only when `target/<target>/manifest.json` is
  missing, so an existing manifest costs nothing;
- in a deployment image, built ahead with
  `dagster-dbt project prepare-and-package --file assets/warehouse/project.py`.
We parse ourselves rather than through `DbtProject.preparer` because the preparer runs
whatever `dbt` is first on PATH, and `make` runs `.venv/bin/python` without activating the venv.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from resources import environment

DBT_PROJECT_DIR = environment.PROJECT_ROOT / "dbt_project"
# The dbt installed beside this interpreter, so an unactivated venv still finds it.
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")


def build_dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    """The dbt project on the target matching the warehouse (`local` or `snowflake`).

    Each target keeps its own manifest (`target/<target>/manifest.json`): relation names in
    it differ by target, and Dagster reads them to fetch row counts and link tables.
    """
    target = environment.dbt_target()
    return DbtProject(
        project_dir=project_dir,
        profiles_dir=project_dir,
        target=target,
        target_path=Path("target") / target,
    )


def prepare_manifest(project: DbtProject) -> Path:
    """Make sure `project.manifest_path` exists; runs `dbt parse` only when it has to."""
    if project.preparer.using_dagster_dev() or not project.manifest_path.exists():
        _parse(project)
    return project.manifest_path


def _parse(project: DbtProject) -> None:
    """`dbt parse` into a private folder, then move the manifest into place atomically, so
    processes that load the definitions at the same time (pytest-xdist) never read half a file."""
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=project.manifest_path.parent, prefix=".parse-") as tmp:
        DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", "--quiet"], target_path=Path(tmp)
        ).wait()
        os.replace(Path(tmp) / "manifest.json", project.manifest_path)


fieldwork_dbt_project = build_dbt_project()
prepare_manifest(fieldwork_dbt_project)


def build_dbt_resource(project: DbtProject = fieldwork_dbt_project) -> DbtCliResource:
    """The `dbt` resource: the dbt CLI on this project and target.

    DbtCliResource passes the parent's environment to the dbt subprocess and has no field
    of its own for extra variables, so this is the one place that exports
    FIELDWORK_DUCKDB_PATH for profiles.yml: the same file `DuckDBWarehouse` loads into,
    whether or not the variable was set. The Snowflake target reads `SNOWFLAKE_*` the same way.
    """
    os.environ["FIELDWORK_DUCKDB_PATH"] = str(environment.duckdb_path())
    return DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
