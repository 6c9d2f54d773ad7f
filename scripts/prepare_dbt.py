"""`make setup`'s last step: prepare the dbt manifest Dagster builds its assets from.

Run at setup time, not when the definitions are imported, so loading them stays cheap.
A deployment image runs `dagster-dbt project prepare-and-package --file resources/dbt.py`.
"""

from resources import build_warehouse
from resources.dbt import fieldwork_dbt_project, prepare_manifest

if __name__ == "__main__":
    path = prepare_manifest(fieldwork_dbt_project, build_warehouse().dbt_vars())
    print(f"dbt manifest prepared: {path}")
