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
