"""Dependencies run one way: jobs, pods → nim_launcher → marketplace → providers; fleets → marketplace (architecture.md).

Every module's imports are read with `ast` (function-level ones too), so a reverse import cannot hide.
"""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("broker", "fleets", "jobs", "marketplace", "nim_launcher", "pods", "providers")
# package → the packages (and third-party roots) it must never import
FORBIDDEN = {
    "marketplace": {"nim_launcher", "jobs", "pods", "fleets", "broker"},
    "nim_launcher": {"jobs", "pods", "fleets", "broker"},
    "jobs": {"pods", "fleets", "broker"},
    "fleets": {"jobs", "pods", "broker"},
    "pods": {"jobs", "fleets", "broker"},
    "providers": {"nim_launcher", "jobs", "pods", "fleets", "marketplace", "broker", "django", "rest_framework",
                  "celery"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _absolute(name: str, node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    base = _module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """Imports under `if TYPE_CHECKING:` never run, so they make no cycle."""
    blocks = [node for node in ast.walk(tree) if isinstance(node, ast.If)
              and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"]
    return {inner for block in blocks for stmt in block.body for inner in ast.walk(stmt)}


@cache
def imports(name: str) -> frozenset[str]:
    """Every module `name` imports at run time (`from a import b` counts as a.b when b is a module)."""
    path = modules()[name]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if node in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(name, node, path)
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules() else target)
    return frozenset(found)


def _root(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_never_import_upper_ones(package):
    offenders = [f"{name} imports {target}" for name in modules() if _root(name) == package
                 for target in imports(name) if _root(target) in FORBIDDEN[package]]
    assert not offenders, offenders


def test_marketplace_names_no_upper_app_in_strings():
    """No `include("nim_launcher…")`, dotted task path or ORM lookup into an upper app's tables."""
    offenders = []
    for name, path in modules().items():
        if _root(name) != "marketplace":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    "nim_launcher" in node.value or "replica__" in node.value or "fleets." in node.value
                    or node.value.startswith("jobs.") or "job_run" in node.value
                    or node.value.startswith("pods.") or "pod__" in node.value):
                offenders.append(f"{name}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


def _cycle() -> list[str] | None:
    graph = {name: sorted(t for t in imports(name) if t in modules() and t != name) for name in modules()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in graph[node]:
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules():
    """Not between packages, nor between a package's services and its tasks (tasks import services)."""
    assert _cycle() is None, " → ".join(_cycle())


def test_services_never_import_task_modules():
    """Services ask for background work through marketplace.scheduling, by task name."""
    offenders = [f"{name} imports {target}" for name in modules() if ".services" in name
                 for target in imports(name) if ".tasks" in f"{target}." or target.endswith(".tasks")]
    assert not offenders, offenders
