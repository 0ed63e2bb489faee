"""The five tutorials run top to bottom with what the README's main command installs, and are committed
without outputs.

Each tutorial teaches with ``assert`` cells, so executing it checks what it teaches. It runs on a copy in
memory (the file on disk is never written) in the notebooks folder, with the ``python3`` kernel, and with
every installed package that the README's main command would not install hidden from it (as a fresh
clone would have it). Other notebooks a teacher adds to ``notebooks/``, and a tutorial saved with its
outputs in the working tree, are no business of these tests: outputs are checked in the committed copy.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
TUTORIALS = [
    "01_why_is_my_grad_none.ipynb",
    "02_reading_the_autograd_graph.ipynb",
    "03_gradient_health_during_training.ipynb",
    "04_debugging_a_real_model.ipynb",
    "05_trainer_and_lightning.ipynb",
]
PATHS = [NOTEBOOKS_DIR / name for name in TUTORIALS]
IDS = [name.removesuffix(".ipynb") for name in TUTORIALS]
CELL_TIMEOUT = 120  # seconds per cell; a whole notebook takes a few seconds


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def test_every_tutorial_is_there():
    missing = [name for name in TUTORIALS if not (NOTEBOOKS_DIR / name).is_file()]
    assert missing == []


def _committed(path: Path) -> str:
    """The file as committed (HEAD), whatever the working tree holds; skips outside a git checkout."""
    git = shutil.which("git")
    rel = path.relative_to(ROOT).as_posix()
    # outside a checkout (an unpacked sdist) or before a first commit there is no committed copy to read;
    # CI runs on a clone, where there always is one: there a missing copy is a failure, never a skip
    ci = os.environ.get("CI") == "true"
    if git is None or not (ROOT / ".git").exists():
        if ci:
            pytest.fail("CI runs on a git checkout: the committed copy must be readable")
        pytest.skip("not a git checkout: the committed copy cannot be read")
    done = subprocess.run([git, "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if ci:
            pytest.fail(f"{rel} is not committed: CI checks the tutorials as committed")
        pytest.skip(f"{rel} is not committed yet")
    return done.stdout


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_committed_without_outputs(path: Path):
    nb = nbformat.reads(_committed(path), as_version=4)
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


def _is_check_cell(cell) -> bool:
    """A check: tagged ``check`` (``remove-cell`` too, for rendered copies), its source collapsed."""
    return (
        "check" in cell.metadata.get("tags", [])
        and cell.metadata.get("jupyter", {}).get("source_hidden") is True
    )


def _asserts(tree: ast.AST) -> list[ast.AST]:
    """``assert`` statements and ``np.testing.assert_*`` calls."""
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func).startswith("np.testing.assert")
    ]
    return [n for n in ast.walk(tree) if isinstance(n, ast.Assert)] + calls


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_traced_claim_is_asserted(path: Path):
    """A cell that runs gradviz.trace or gradviz.watch (itself, or through a helper defined in the notebook)
    states what it teaches with an assert, in the collapsed check cell right after it, so a notebook that
    teaches a wrong fact fails."""
    tracing = {"gradviz.trace", "gradviz.watch"}
    cells = _read(path).cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or _is_check_cell(cell):
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
            after = cells[i + 1] if i + 1 < len(cells) else None
            checked = after is not None and _is_check_cell(after) and _asserts(ast.parse(after.source))
            assert checked, f"cell {i} runs {sorted(runs)} but no check cell after it asserts what it teaches"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_checks_are_out_of_the_readers_way(path: Path):
    """The checks stay (CI runs them), but a student reads the lesson without them: every assert is in a
    collapsed check cell, and a check cell shows nothing (no print, no displayed value)."""
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        if not _is_check_cell(cell):
            assert _asserts(tree) == [], f"cell {i} asserts in view of the reader: move it to a check cell"
            continue
        assert _asserts(tree) or any(isinstance(s, ast.FunctionDef) for s in tree.body), (
            f"check cell {i} checks nothing"
        )
        # JupyterLab shows a collapsed cell's first line: a comment that says what it is, not an assert
        assert cell.source.startswith("# check"), f"check cell {i} does not open with a '# check' comment"
        assert "print" not in _calls(tree), f"check cell {i} prints"
        assert not (tree.body and isinstance(tree.body[-1], ast.Expr) and not _asserts(tree.body[-1])), (
            f"check cell {i} displays its last value"
        )


# -- what the README's main command installs -------------------------------------------------------------


def readme_command() -> str:
    """The README's main command: the one line that ends by opening the tutorials in ``jupyter lab``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "pip install" in line and "jupyter lab notebooks/" in line]
    assert len(lines) == 1, lines
    return lines[0]


def _requested(command: str) -> tuple[list[Requirement], set[str]]:
    """What the command's ``pip install`` calls ask for: named packages, and this checkout's requirements
    with its extras (read from pyproject.toml, not from the installed metadata, which may predate an edit);
    and the canonical name of this checkout when it installs it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    out: list[Requirement] = []
    local: set[str] = set()
    for call in re.findall(r"pip install ([^&|;]+)", command):
        for arg in call.split():
            arg = arg.strip("\"'")
            checkout = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", arg)
            if arg == "-e":
                continue
            if checkout is None:
                out.append(Requirement(arg))
                continue
            local.add(canonicalize_name(project["name"]))
            out += [Requirement(r) for r in project["dependencies"]]
            for extra in filter(None, (checkout.group(1) or "").split(",")):
                out += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return out, local


def installed_by(command: str) -> set[str]:
    """Canonical names of the distributions the command installs: what it asks for and, from the installed
    metadata, everything those need (markers evaluated here, extras followed)."""
    requested, local = _requested(command)
    seen: set[str] = set()
    todo = [(r, set(r.extras)) for r in requested]
    while todo:
        req, extras = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(req.name) + "[" + ",".join(sorted(extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            needs = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # asked for but not installed here: the notebook run will say what is missing
        for text in needs:
            sub = Requirement(text)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append((sub, set(sub.extras)))
            elif any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append((Requirement(str(sub).split(";")[0]), set(sub.extras)))
    return local | {key.split("[")[0] for key in seen}


def hidden_modules(allowed: set[str]) -> set[str]:
    """Top-level modules installed here only by distributions the command would not install."""
    hidden = set()
    for module, dists in metadata.packages_distributions().items():
        names = {canonicalize_name(d) for d in dists}
        if module.isidentifier() and module not in sys.stdlib_module_names and not names & allowed:
            hidden.add(module)
    return hidden


def hidden_distributions(allowed: set[str]) -> set[str]:
    """Canonical names of the distributions installed here that the command would not install."""
    return {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()} - allowed


def hiding_code(command: str) -> str:
    """Python that makes this process see only what ``command`` installs (run first in the kernel)."""
    allowed = installed_by(command)
    return _HIDE.format(modules=sorted(hidden_modules(allowed)), dists=sorted(hidden_distributions(allowed)))


# Every import of a hidden module fails as it would where it is not installed (importlib.util.find_spec
# says None, import raises ModuleNotFoundError), and importlib.metadata does not see hidden distributions.
_HIDE = """
import importlib.machinery, re, sys

class _NotInstalled:
    modules = frozenset({modules!r})
    dists = frozenset({dists!r})
    path_finder = importlib.machinery.PathFinder

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.modules:
            return None
        return cls.path_finder.find_spec(name, path, target)

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        for dist in cls.path_finder.find_distributions(*args, **kwargs):
            if re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower() not in cls.dists:
                yield dist

    @classmethod
    def invalidate_caches(cls):
        cls.path_finder.invalidate_caches()

sys.meta_path[:] = [_NotInstalled if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
del _NotInstalled
"""


def test_the_readme_command_installs_what_the_tutorials_import():
    """Static half of the check: every module a tutorial imports comes with the README's command."""
    allowed = installed_by(readme_command())
    assert {"torch", "jupyterlab", "ipykernel"} <= allowed
    hidden = hidden_modules(allowed)
    for path in PATHS:
        imported = set()
        for cell in _read(path).cells:
            if cell.cell_type == "code":
                for node in ast.walk(ast.parse(cell.source)):
                    if isinstance(node, ast.Import):
                        imported |= {alias.name.partition(".")[0] for alias in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        imported.add(node.module.partition(".")[0])
        assert imported & hidden == set(), f"{path.name} imports what the README's command does not install"


def test_hiding_what_the_command_does_not_install_hides_it():
    """The check can fail: a module only the [test] extra installs is hidden, and importing it fails."""
    hidden = hidden_modules(installed_by(readme_command()))
    assert {"pytest", "playwright", "marimo"} <= hidden
    probe = """
import importlib.util
from importlib import metadata
assert importlib.util.find_spec("marimo") is None
try:
    metadata.version("marimo")
except metadata.PackageNotFoundError:
    pass
else:
    raise SystemExit("marimo's metadata was found")
assert metadata.version("anywidget") and metadata.version("torch").startswith("2.")
try:
    import marimo
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("marimo was imported")
import gradviz, torch
"""
    code = hiding_code(readme_command()) + probe
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_notebook_runs_top_to_bottom_with_what_the_readme_installs(path: Path):
    nb = _read(path)
    for cell in nb.cells:  # a copy saved with its outputs runs the same
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.insert(0, nbformat.v4.new_code_cell(hiding_code(readme_command())))
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
