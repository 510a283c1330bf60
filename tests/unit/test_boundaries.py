"""bot/ stays platform- and driver-neutral: no platform SDK, web framework or database driver."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FORBIDDEN = {
    "telegram",
    "slack_bolt",
    "slack_sdk",
    "mongoengine",
    "pymongo",
    "bson",
    "redis",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiohttp",
    "httpx",
    "adapters",
}
BOT = Path(__file__).resolve().parents[2] / "bot"


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(BOT.rglob("*.py")), ids=lambda p: p.name)
def test_bot_imports_no_platform_or_driver(module: Path) -> None:
    assert imported_roots(module.read_text(encoding="utf-8")) & FORBIDDEN == set()


def test_the_check_sees_imports_nested_anywhere() -> None:
    source = "def f():\n    import redis.asyncio\n    from telegram import Bot\n"
    assert imported_roots(source) & FORBIDDEN == {"redis", "telegram"}


ADAPTERS = BOT.parent / "adapters"


def adapter_imports() -> dict[str, set[str]]:
    """Which adapters modules each adapters module imports, anywhere in it (in functions too)."""
    modules = {
        ".".join(p.relative_to(ADAPTERS.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in ADAPTERS.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {
                    m for m in (node.module, *(f"{node.module}.{a.name}" for a in node.names)) if m in modules
                }
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules}
        graph[name] = found - {name}
    return graph


def test_adapters_import_each_other_without_a_circle() -> None:
    graph = adapter_imports()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        for imported in sorted(graph[name]):
            assert imported not in path, "import circle: " + " -> ".join((*path, imported))
            if imported not in done:
                visit(imported, (*path, imported))
        done.add(name)

    for name in sorted(graph):
        visit(name, (name,))
    assert "adapters.platform" in graph["adapters.telegram"], "the check sees the adapters' imports"


@pytest.mark.parametrize("module", sorted(ADAPTERS.rglob("*.py")), ids=lambda p: str(p.relative_to(ADAPTERS)))
def test_the_product_needs_no_dev_tooling(module: Path) -> None:
    """devtools/ (embedded stores, process supervision) is not installed with the product."""
    assert "devtools" not in imported_roots(module.read_text(encoding="utf-8"))


def test_the_product_package_leaves_devtools_out() -> None:
    pyproject = (BOT.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'include = ["bot*", "adapters*"]' in pyproject
