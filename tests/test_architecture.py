"""The package's shape, read from its source with ``ast`` (nothing is imported or run).

- no import cycles between course_lib's modules, counting imports inside functions (a lazy import
  still ties the two modules together);
- nothing in course_lib.envs imports a task module (a module that defines a VecEnvBase subclass)
  except the task registry, course_lib/envs/__init__.py;
- no module is over 700 lines.

An edge A -> B is an ``import B`` or ``from B import x`` written in A; ``from B import x`` where B.x is a
module is an edge to B.x alone.
Package ``__init__`` files run when a submodule is imported, but that is not an edge of its own:
every package whose ``__init__`` re-exports its submodules would otherwise be a cycle.
See docs/architecture.md for the layers these rules keep.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "course_lib"
MAX_LINES = 700
TASK_REGISTRY = "course_lib.envs"
TASK_BASE = "VecEnvBase"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(path):
        base = base[:-1]  # a module's relative imports start at its package
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, modules: dict) -> dict[str, int]:
    """Modules of the package that ``module`` imports (anywhere in the file) -> line of the first import."""
    found: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        if name in modules and name != module:
            found.setdefault(name, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:  # `from pkg import mod` takes the module; `from mod import name`, mod
                sub = f"{target}.{alias.name}"
                add(sub if sub in modules else target, node.lineno)
    return found


def _graph() -> tuple[dict, dict]:
    modules = _modules()
    return modules, {m: _imports(m, p, modules) for m, p in modules.items()}


def _cycles(graph: dict) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    """The reader sees imports at the top and inside functions, relative and absolute."""
    modules, graph = _graph()
    assert "course_lib.sim" in graph["course_lib.envs.vec_env"]  # from ..sim import ...
    assert "course_lib.rl" in graph["course_lib"]  # from . import rl, inside __getattr__
    assert len(modules) > 40


def test_no_import_cycles():
    modules, graph = _graph()
    problems = []
    for comp in _cycles(graph):
        ties = [f"    {a} -> {b} ({modules[a].relative_to(ROOT)}:{graph[a][b]})"
                for a in comp for b in sorted(graph[a]) if b in comp]
        problems.append(f"  {', '.join(comp)}:\n" + "\n".join(ties))
    assert not problems, "import cycles (lazy imports included):\n" + "\n".join(problems)


def _task_modules(modules: dict) -> set[str]:
    """Modules of course_lib.envs that define a task class (a subclass of VecEnvBase)."""
    tasks = set()
    for name, path in modules.items():
        if not name.startswith(TASK_REGISTRY + "."):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                    (isinstance(b, ast.Name) and b.id == TASK_BASE)
                    or (isinstance(b, ast.Attribute) and b.attr == TASK_BASE) for b in node.bases):
                tasks.add(name)
    return tasks


def test_only_the_registry_imports_tasks():
    modules, graph = _graph()
    tasks = _task_modules(modules)
    assert "course_lib.envs.franka_reach" in tasks
    assert "course_lib.envs.cartpole" not in tasks  # the reference cart-pole is chapter 2's answer: course_answers
    bad = [f"  {m} -> {t} ({modules[m].relative_to(ROOT)}:{graph[m][t]})"
           for m in sorted(graph) if m.startswith(TASK_REGISTRY + ".")
           for t in sorted(graph[m]) if t in tasks]
    assert not bad, ("only the task registry (course_lib/envs/__init__.py) may import a task module; "
                     "move what is shared into its own module:\n" + "\n".join(bad))


def test_no_module_over_700_lines():
    modules, _ = _graph()
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules.items()}
    big = [f"  {modules[m].relative_to(ROOT)}: {n} lines" for m, n in sorted(sizes.items()) if n > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines (split them by what they do):\n" + "\n".join(big)


def test_the_library_never_imports_the_instructors_answers():
    """course_answers (the reference implementations of graded exercises) is not in what a student installs:
    course_lib reaches it only through course_lib.answers, which finds it where it is and copes where it is not."""
    bad = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "course_answers"]
    assert not bad, bad
