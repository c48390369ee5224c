"""DRF stays at the HTTP edge: services and the request parser never import it (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted((ROOT / "marketplace" / "services").glob("*.py")) + sorted(
    (ROOT / "nim_launcher" / "services").glob("*.py"))
NEUTRAL = [ROOT / "marketplace" / name for name in ("placement.py", "inputs.py", "errors.py")]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_never_import_drf(path):
    assert {"rest_framework", "drf_spectacular"}.isdisjoint(imported_roots(path))


@pytest.mark.parametrize("path", NEUTRAL, ids=lambda p: p.name)
def test_the_request_parser_imports_neither_django_nor_drf(path):
    assert {"django", "rest_framework", "drf_spectacular"}.isdisjoint(imported_roots(path))
