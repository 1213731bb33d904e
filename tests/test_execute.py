"""Every source notebook runs top to bottom in a real kernel, demos and figures included."""
from __future__ import annotations

import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import ROOT, notebooks

from conftest import ASSIGNMENTS

SOURCES = [p for a in ASSIGNMENTS for p in notebooks(ROOT / "source" / a)]


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_source_notebook_executes(path, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # a figure drawn with a font that lacks its glyphs shows empty boxes; matplotlib only warns
    stderr = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.output_type == "stream" and o.get("name") == "stderr")
    assert not ("Glyph" in stderr and "missing" in stderr), f"a figure lacks glyphs on this machine:\n{stderr[:500]}"
