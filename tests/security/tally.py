"""How each fuzz test's cases ended: shared by the tests and the terminal summary (conftest.py)."""

from __future__ import annotations

from collections import Counter

FUZZ_COUNTS: dict[str, Counter[str]] = {}
