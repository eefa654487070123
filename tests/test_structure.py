"""The package's arrangement: packages in a documented order, a module importing only from its own package or
from packages below it, no import circle, no private name imported across modules, and a docstring and
``__all__`` in every package ``__init__``."""
import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "bertdistil"
# top to bottom; a unit imports only from itself or from units after it
ORDER = ["cli", "api", "pipeline", "report", "deploy", "downstream", "training", "evaluation", "models",
         "runfolder", "data", "config", "lock", "atomic", "console", "precision", "runtime", "errors", ""]


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(SRC).with_suffix("").parts): p for p in SRC.rglob("*.py")}


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module under bertdistil, imported names, line) for each import of the package in a module."""
    pkg = name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg[:len(pkg) - node.level + 1]
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            out.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bertdistil"):
            out.append((node.module.removeprefix("bertdistil").lstrip("."), [a.name for a in node.names], node.lineno))
    return out


def _unit(module: str) -> str:
    head = module.split(".")[0]
    return head if head in ORDER else ""


def test_every_module_belongs_to_a_listed_unit():
    units = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SRC.glob("*")} - {"__pycache__", "presets",
                                                                                         "__init__", "__main__",
                                                                                         "_version"}
    assert units <= set(ORDER), units - set(ORDER)


def test_no_import_runs_back_up():
    bad = []
    for name, path in _modules().items():
        if name in ("__main__", "__init__") or name.endswith("__main__"):
            continue
        me = ORDER.index(_unit(name))
        for target, _names, line in _imports(name, path):
            if _unit(target) and ORDER.index(_unit(target)) < me:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_circle_between_modules():
    mods = _modules()
    graph = {n: {t for t, names, _ in _imports(n, p) for t in [t] + [f"{t}.{x}" for x in names]
                 if t in mods or f"{t}.__init__" in mods} for n, p in mods.items()}
    graph = {n: {t if t in mods else f"{t}.__init__" for t in ts} - {n} for n, ts in graph.items()}
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if m.endswith("__init__") or n.endswith("__init__"):
                continue                       # re-exports: packages are lazy, checked by layer order instead
            if state.get(m) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n)


def test_no_private_name_imported_from_another_module():
    bad = [f"{p.relative_to(SRC)}:{line} imports {x} from {t}" for n, p in _modules().items()
           for t, names, line in _imports(n, p) for x in names if x.startswith("_") and not x.startswith("__")]
    assert not bad, "\n".join(bad)


def test_no_public_function_takes_more_than_eight_parameters():
    """Knobs travel in dataclasses (TrainOptions, FitOptions, CorpusSpec, VariantJob, StepSetup); ``self``/``cls``
    are not counted, nor a ``**fields`` forwarded to a documented dataclass."""
    bad = []
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                a = node.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs] + ([a.vararg.arg] if a.vararg else [])
                n = len([x for x in names if x not in ("self", "cls")])
                if n > 8:
                    bad.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} takes {n} parameters")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("pkg", sorted(p.parent.name for p in SRC.glob("*/__init__.py")))
def test_each_package_says_what_it_holds_and_exports_it(pkg):
    tree = ast.parse((SRC / pkg / "__init__.py").read_text())
    doc = ast.get_docstring(tree) or ""
    assert len(doc.split()) >= 12, f"{pkg}/__init__.py: a one-paragraph docstring saying what the package holds"
    assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
               for n in tree.body), f"{pkg}/__init__.py: __all__ lists its public names"


@pytest.mark.parametrize("module", sorted(n for n in _modules() if not n.endswith("__main__")))
def test_every_module_imports(module):
    """Each import names something that exists (a function moved between modules leaves no stale import)."""
    importlib.import_module("bertdistil" if module == "__init__" else
                            "bertdistil." + module.removesuffix(".__init__"))
