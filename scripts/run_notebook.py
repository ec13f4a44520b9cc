"""Executes docs/tutorial.ipynb top to bottom (fails on the first failing cell), and checks
that the committed notebook is what scripts/make_notebook.py writes, with outputs stripped.

Run: python scripts/run_notebook.py  (reads the data like the CLI: MOVIEREC_DATA, the cache)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from make_notebook import build
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def main() -> int:
    committed = nbformat.read(NOTEBOOK, as_version=4)
    if [c.source for c in committed.cells] != [c.source for c in build().cells]:
        print(f"{NOTEBOOK} differs from scripts/make_notebook.py: run "
              "`python scripts/make_notebook.py` and commit the result", file=sys.stderr)
        return 1
    if any(c.get("outputs") for c in committed.cells if c.cell_type == "code"):
        print(f"{NOTEBOOK} has outputs: commit it stripped", file=sys.stderr)
        return 1
    started = time.perf_counter()
    NotebookClient(committed, timeout=900, kernel_name="python3").execute()
    print(f"{NOTEBOOK.name}: {len(committed.cells)} cells ran in "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
