"""The shape of the house, as code (docs/architecture.md, ADR 0017).

- no import cycle anywhere in src/ (imports that run: `if TYPE_CHECKING:` blocks are left out,
  since they never execute; the kernel's unit of work names every capability's ports there);
- no module over 400 lines, except the Alembic migrations and the table definitions;
- every capability has the same name in services/, adapters/db/ and entrypoints/web/ (a web
  module may also take the name of the services module it serves, e.g. consent_receipts).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests import pyast

import ledgerlink

SRC = Path(ledgerlink.__file__).parent
MAX_LINES = 400
LONG_ALLOWED = ("adapters/db/migrations/", "adapters/db/schema.py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in SRC.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can execute: module level or inside functions, but not
    under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _run_time_imports(pyast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                target = _resolve(name, path, node)
                # `from package import submodule` depends on the submodule itself
                targets = [
                    f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_there_is_no_import_cycle_in_src() -> None:
    found = cycles(import_graph(_modules()))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_a_type_checking_import_is_not_a_run_time_import() -> None:
    tree = pyast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\nelse:\n    import y\n"
        "def f():\n    import z\n"
    )
    names = {alias.name for node in _run_time_imports(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "y", "z"}


def _too_long(paths: Iterable[Path]) -> list[str]:
    long = []
    for path in paths:
        rel = path.relative_to(SRC).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and not rel.startswith(LONG_ALLOWED):
            long.append(f"{rel}: {lines} lines")
    return long


def test_no_module_is_over_400_lines() -> None:
    long = _too_long(SRC.rglob("*.py"))
    assert not long, f"split these by meaning (limit {MAX_LINES} lines): {long}"


def test_capabilities_have_the_same_name_in_every_layer() -> None:
    services = {p.name for p in (SRC / "services").iterdir() if (p / "__init__.py").exists()}
    infrastructure = {"__init__", "direct", "engine", "lean", "migrate", "outage", "schema", "uow"}
    db = {p.stem for p in (SRC / "adapters" / "db").glob("*.py")} - infrastructure
    # a capability's storage may be split further: messaging.py, messaging_channels.py
    strays = sorted(name for name in db if not name.startswith("_") and name.split("_")[0] not in services)
    assert not strays, f"adapters/db modules named after no services capability: {strays}"
    assert {"kernel", "linking", "messaging", "ingest", "dialogue", "alerts", "privacy"} <= services


def test_web_modules_are_named_after_a_capability_or_one_of_its_modules() -> None:
    services = {p.name for p in (SRC / "services").iterdir() if (p / "__init__.py").exists()}
    service_modules = {p.stem for p in (SRC / "services").glob("*/*.py")}
    web_infrastructure = {"__init__", "kit", "rendering", "hub", "live"}  # shared by every page
    web = {p.stem for p in (SRC / "entrypoints" / "web").glob("*.py")} - web_infrastructure
    # like adapters/db, a capability's pages may be split further: imports.py, imports_upload.py
    strays = sorted(n for n in web - services - service_modules if n.split("_")[0] not in services)
    assert not strays, f"entrypoints/web modules named after no capability: {strays}"


def test_test_modules_have_unique_names() -> None:
    """The test directories are not packages: two modules of one name (tests/unit/test_x.py and
    tests/integration/test_x.py) make pytest refuse to collect the second ("import file
    mismatch"), as it did in CI."""
    tests = Path(__file__).parents[1]
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
