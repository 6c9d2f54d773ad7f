"""Helpers of the analysts' notebooks: readable labels, charts, and each question's figures.

The notebooks import it as `fieldwork_notebooks` (JupyterLab and `make notebooks` run them
from `notebooks/`), the tests as `notebooks.fieldwork_notebooks`. Data always comes in
through `assets.catalog.load`; these functions only shape and draw it, so a notebook keeps
its question, its narrative and its answers, not its plumbing.
"""

import warnings

import dagster as dg

# Dagster's notes on the maturity of its own API are for whoever defines the assets (they
# see them in the UI and the tests); in a notebook they would bury the answers.
for _category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)
