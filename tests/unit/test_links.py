"""Link codes: format, reading what people type, hashing, and the guessing policy (bot/links.py)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.links import (
    ALPHABET,
    CODE_LENGTH,
    CODE_SPACE,
    CODE_TTL_S,
    ENTROPY_BITS,
    POLICY,
    code_hash,
    code_key,
    expected_guesses,
    identity,
    new_code,
    normalize,
    shown,
    typed_code,
)
from bot.responses import respondent_key

ROOT = Path(__file__).resolve().parents[2]


def test_the_alphabet_is_crockfords_base32() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert set(ALPHABET) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert not set("ILOU") & set(ALPHABET)


def test_the_code_space_and_its_entropy() -> None:
    # Six characters of 32, less the all-digit and all-letter ones.
    assert CODE_SPACE == 32**6 - 10**6 - 22**6 == 959_361_920
    assert abs(ENTROPY_BITS - 29.84) < 0.005
    assert CODE_TTL_S == 600


def test_new_codes_are_canonical_mixed_and_spread_over_the_alphabet() -> None:
    codes = [new_code() for _ in range(3000)]
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(ALPHABET)
        assert re.search(r"\d", code) and re.search(r"[A-Z]", code)
        assert normalize(code) == code
    assert len(set(codes)) == len(codes)
    counts = Counter("".join(codes))
    assert set(counts) == set(ALPHABET)
    # 18,000 characters: every symbol near 1/32 of them (digits a little more, letters a little less,
    # from the rule that a code holds both).
    assert all(350 < n < 800 for n in counts.values()), counts


def test_a_code_is_shown_in_two_halves() -> None:
    assert shown("K7P4QD") == "K7P-4QD"


@pytest.mark.parametrize(
    "typed",
    [
        "K7P4QD",
        "k7p4qd",
        "K7P-4QD",
        "k7p-4qd",
        " K7P 4QD ",
        "K 7 P - 4 Q D",
        "K7P–4QD",
        "ｋ７ｐ－４ｑｄ",
        "K7P.4QD",
    ],
)
def test_normalize_reads_what_people_type(typed: str) -> None:
    assert normalize(typed) == "K7P4QD"


def test_normalize_reads_look_alikes_as_crockford_does() -> None:
    assert normalize("K7P-4OD") == "K7P40D"
    assert normalize("ilo-abc") == "110ABC"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "K7P4Q",
        "K7P4QDX",
        "123-456",
        "ABC-DEF",
        "K7P-4QU",
        "K7P/4QD",
        "/link K7P-4QD",
        "K7P4QD" * 5,
        "🙂🙂🙂-🙂🙂🙂",
    ],
)
def test_normalize_refuses_what_cannot_be_an_issued_code(typed: str) -> None:
    assert normalize(typed) is None


@pytest.mark.parametrize("text", ["K7P-4QD", "k7p-4qd", " K7P - 4QD ", "K7P-4OD", "ｋ７ｐ－４ｑｄ"])
def test_a_bare_message_in_the_shape_shown_is_a_code(text: str) -> None:
    assert typed_code(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "K7P4QD",  # no dash: could be an answer (a number, a word)
        "K7P 4QD",
        "100000",
        "yellow",
        "non-fat",  # a hyphenated word: no digit as typed
        "bio-lab",
        "123-456",  # a number: no letter
        "K7P-4QD please",
        "/link K7P-4QD",  # the command's argument is read by normalize
        "K7P-4QU",
    ],
)
def test_other_messages_are_not_codes(text: str) -> None:
    assert typed_code(text) is None


def test_an_identity_is_the_respondent_key() -> None:
    assert identity(b"s", "telegram", "42") == respondent_key(b"s", "telegram", "42")
    assert identity(b"s", "telegram", "42") != identity(b"s", "slack", "42")


def test_the_code_hash_is_keyed_and_never_the_code() -> None:
    key = code_key(b"server secret")
    assert key != code_key(b"another secret")
    hashed = code_hash(key, "K7P4QD")
    assert re.fullmatch(r"[0-9a-f]{32}", hashed)
    assert hashed == code_hash(key, "K7P4QD")
    assert hashed != code_hash(code_key(b"another secret"), "K7P4QD")
    assert hashed != code_hash(key, "K7P4QE")
    assert "K7P4QD" not in hashed.upper()
    assert hashed != respondent_key(b"server secret", "link", "K7P4QD")


@pytest.mark.parametrize("code", ["K7P-4QD", "k7p4qd", "123456", ""])
def test_only_canonical_codes_are_hashed(code: str) -> None:
    with pytest.raises(ValueError, match="canonical"):
        code_hash(code_key(b"s"), code)


def test_the_policy_and_what_it_costs_a_guesser() -> None:
    assert (POLICY.per_identity, POLICY.identity_window_s) == (5, 600)
    assert (POLICY.overall, POLICY.overall_window_s) == (20, 60)
    assert POLICY.guesses_per_day() == 28_800
    assert expected_guesses(0) == CODE_SPACE + 1
    assert math.isclose(expected_guesses(100), 9_498_633, rel_tol=1e-6)


def test_the_documented_numbers_are_the_codes() -> None:
    doc = (ROOT / "docs" / "linking.md").read_text(encoding="utf-8")
    days = expected_guesses(100) / POLICY.guesses_per_day()
    for figure in (
        f"{CODE_SPACE:,}",
        f"{ENTROPY_BITS:.2f} bits",
        f"{POLICY.per_identity} failed",
        f"{POLICY.overall} failed",
        f"{POLICY.guesses_per_day():,.0f}",
        f"{expected_guesses(100):,.0f}",
        f"{days:,.0f} days",
    ):
        assert figure in doc, figure
