"""Execute every notebook against the local defaults: `python -m scripts.run_notebooks`.

Each notebook runs top to bottom in a fresh kernel of the project's venv, from
`notebooks/` (so its imports resolve as in JupyterLab); the executed copy, outputs included,
goes to `notebooks/executed/`, which git ignores: the committed notebooks stay without
outputs. A notebook that fails stops nothing else; the exit code says whether all ran.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# IPython colours its tracebacks with ANSI escapes; a terminal or a CI log shows them as junk.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def run(path: Path, out_dir: Path, timeout_seconds: int = 600) -> Path:
    """Execute one notebook; returns the executed copy's path (written even when it fails)."""
    notebook = nbformat.read(path, as_version=4)
    out = out_dir / path.name
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout_seconds,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out)
    return out


def failure_summary(error: CellExecutionError) -> str:
    """The failing cell's exception in one plain line: its type and its message's first line."""
    message = ANSI_ESCAPE.sub("", error.evalue or "").strip()
    first = message.splitlines()[0] if message else ""
    return f"{ANSI_ESCAPE.sub('', error.ename)}: {first}" if first else error.ename


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="notebook file names (default: all)")
    parser.add_argument("--out", type=Path, default=NOTEBOOKS / "executed")
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / n for n in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    failed = []
    for path in paths:
        started = time.perf_counter()
        try:
            out = run(path, args.out)
        except CellExecutionError as error:
            failed.append(path.name)
            print(
                f"FAILED {path.name}: {failure_summary(error)} "
                f"(executed copy in {args.out / path.name})"
            )
            continue
        print(f"ok     {path.name} in {time.perf_counter() - started:.0f} s -> {out}")
    if failed:
        print(f"{len(failed)} of {len(paths)} notebooks failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
