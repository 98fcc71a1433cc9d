"""The package's shape: data flows one way between kgc_lite's modules, the library never reaches into the CLI,
and every stage package ships in the wheel. Imports inside functions count too: a circle hidden behind a
function-local import is still a circle a reader has to untangle."""

import ast
import tomllib

from .conftest import ROOT

PKG = ROOT / "kgc_lite"


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(module: str, name: str | None) -> str:
    """The kgc_lite module an import loads: `from kgc_lite.a import b` loads kgc_lite.a.b if b is a module."""
    if name:
        sub = f"{module}.{name}"
        rel = ROOT.joinpath(*sub.split("."))
        if rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file():
            return sub
    return module


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.split(".")[0] == "kgc_lite")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] == "kgc_lite":
                    edges.update(_target(module, a.name) for a in node.names)
        edges.discard(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_finds_a_known_circle():
    """The checker itself: a circle through a function-local import is reported."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    graph = import_graph()
    assert "kgc_lite.extract.extractor" in graph["kgc_lite.extract.two_stage"]  # edges are seen at all
    assert _cycles(graph) == []


def test_the_library_does_not_import_the_cli():
    """`python -m kgc_lite` (kgc_lite/__main__.py) is the CLI's other door; nothing else reaches into it."""
    graph = import_graph()
    leaks = {m: sorted(e for e in edges if e.startswith("kgc_lite.cli"))
             for m, edges in graph.items() if not m.startswith("kgc_lite.cli") and m != "kgc_lite.__main__"}
    assert {m: e for m, e in leaks.items() if e} == {}


def test_every_package_ships():
    """pyproject.toml lists the packages by hand (grammars/ is mapped in); a new stage folder must be added."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {_module_name(p) for p in PKG.rglob("__init__.py") if "__pycache__" not in p.parts}
    assert set(project["packages"]) - {"kgc_lite.grammars"} == folders
    data = project["package-data"]["kgc_lite"]
    assert "models.toml" in data and "adapters/*/*" in data
    assert (PKG / "models.toml").resolve() == (ROOT / "models.toml").resolve()
    assert (PKG / "adapters").resolve() == (ROOT / "adapters").resolve()
