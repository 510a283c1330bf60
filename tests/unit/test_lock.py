"""The lock files in requirements/ pin every dependency pyproject.toml names, with hashes: `make` installs
exactly them (CI included), and the Docker image installs requirements/prod.txt."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: Path) -> dict[str, str]:
    text = lock.read_text(encoding="utf-8")
    found = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\", text, flags=re.MULTILINE))
    assert text.count("--hash=sha256:") >= len(found), "every pin carries its hashes"
    return {normal(k): v for k, v in found.items()}


def wanted(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = _NAME.match(requirement)
        assert match is not None, requirement
        names.add(normal(match[1]))
    return names


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("prod.txt", PROJECT["dependencies"]),
        ("dev.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_dependency_is_pinned_with_hashes(lock: str, requirements: list[str]) -> None:
    missing = wanted(requirements) - set(pinned(ROOT / "requirements" / lock))
    assert not missing, f"run `make lock`: {sorted(missing)} not in requirements/{lock}"


def test_the_dev_lock_agrees_with_the_product_lock() -> None:
    dev, prod = pinned(ROOT / "requirements" / "dev.txt"), pinned(ROOT / "requirements" / "prod.txt")
    differ = {name: (prod[name], dev[name]) for name in prod if dev.get(name) != prod[name]}
    assert not differ, f"CI would test other versions than the image ships: {differ}"


def test_the_embedded_server_is_the_version_the_makefile_names() -> None:
    version = re.search(r"^SECANTUS_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert version is not None
    assert pinned(ROOT / "requirements" / "secantus.txt")["secantusdb"] == version[1]
