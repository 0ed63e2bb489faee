"""The import contract beyond what `lint-imports` checks (pyproject.toml): no import circle anywhere in the
package, and no module reaching into another package's private modules (``gradviz.capture._tracer`` is
capture's own business; other layers use what ``gradviz/capture/__init__.py`` exports)."""

from __future__ import annotations

import grimp
import pytest

# The one import that goes up: `%load_ext gradviz` loads the magic lazily from the package's root.
_LAZY_ENTRY_POINTS = {("gradviz", "gradviz.integrations.ipython")}
# A public module that is the face of a private package: gradviz.demos lists what gradviz._demos holds.
_FACES = {"gradviz.demos": "gradviz._demos"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("gradviz")


def _imports(graph: grimp.ImportGraph, module: str) -> set[str]:
    return {
        m for m in graph.find_modules_directly_imported_by(module) if (module, m) not in _LAZY_ENTRY_POINTS
    }


def test_no_import_circle(graph) -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(root: str) -> None:  # Tarjan's strongly connected components, iteratively
        work = [(root, iter(sorted(_imports(graph, root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(_imports(graph, child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1:
                    circles.append(sorted(part))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert circles == [], f"import circles: {circles}"


def test_no_module_reaches_into_another_packages_private_modules(graph) -> None:
    reaching = []
    for module in sorted(graph.modules):
        for imported in _imports(graph, module):
            package, _, name = imported.rpartition(".")
            if not name.startswith("_") or package == "" or package == "gradviz":
                continue  # gradviz._trace and friends are the façades: the root's own modules
            inside = module == package or module.startswith(package + ".")
            face = _FACES.get(module)
            if not inside and not (face is not None and imported.startswith(face + ".")):
                reaching.append(f"{module} -> {imported}")
    assert reaching == [], "imports of another package's private modules:\n" + "\n".join(reaching)


def test_the_contract_sees_every_layer(graph) -> None:
    """A new top-level package must be placed in the layers of pyproject.toml, or lint-imports ignores it."""
    from pathlib import Path

    import tomllib

    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    top = {m for m in graph.modules if m.count(".") == 1}
    unplaced = sorted(top - placed)
    assert unplaced == [], f"top-level modules in no layer of the import contract: {unplaced}"
