"""The tutorial notebooks run top to bottom, and are committed without outputs.

Each notebook teaches with ``assert`` cells, so executing it checks what it teaches. It runs on a copy in
memory (the file on disk is never written) in the notebooks folder, with the ``python3`` kernel.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_why_is_my_grad_none.ipynb",
    "02_reading_the_autograd_graph.ipynb",
    "03_gradient_health_during_training.ipynb",
    "04_debugging_a_real_model.ipynb",
    "05_trainer_and_lightning.ipynb",
]
CELL_TIMEOUT = 120  # seconds per cell; a whole notebook takes a few seconds


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def test_every_tutorial_is_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path: Path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.metadata.kernelspec.display_name == "Python 3"
    assert "widgets" not in nb.metadata, "saved widget state: clear it before committing"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: strip them before committing"
            assert cell.execution_count is None, f"cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"cell {i} has execution timing metadata"


def _calls(node: ast.AST) -> set[str]:
    """Names called under ``node``: ``f`` for ``f(...)``, ``gradviz.trace`` for ``gradviz.trace(...)``."""
    return {ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_traced_claim_is_asserted(path: Path):
    """A cell that runs gradviz.trace or gradviz.watch (itself, or through a helper defined in the notebook)
    states what it teaches with an assert, so a notebook that teaches a wrong fact fails."""
    tracing = {"gradviz.trace", "gradviz.watch"}
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        runs: set[str] = set()
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef):
                if _calls(stmt) & tracing:
                    tracing.add(stmt.name)  # a helper such as train(): its callers must assert
            elif not isinstance(stmt, ast.ClassDef):
                runs |= _calls(stmt) & tracing
        if runs:
            asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]
            assert asserts, f"cell {i} runs {sorted(runs)} but asserts nothing it teaches"


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path):
    nb = _read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
