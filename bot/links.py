"""Cross-channel link codes: their format, how a typed one is read, how they are hashed, and the policy
against guessing them (docs/linking.md). Pure: no I/O; the stores are :class:`bot.ports.LinkStore`.

A respondent says ``/link`` in one channel and is shown a code such as ``K7P-4QD``; typed in another
channel within :data:`CODE_TTL_S` seconds, it links the two *identities*. An identity is the respondent
key of a platform account (:func:`identity`, the engine's :func:`bot.responses.respondent_key`): a keyed
hash, never the platform id. A code is stored only as :func:`code_hash`, an HMAC under a key derived
from the server secret, so neither the stores nor their backups hold a code that could be typed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from bot.responses import respondent_key

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: digits and letters without I, L, O (read as 1, 1, 0) and U."""
DIGITS = frozenset("0123456789")
CODE_LENGTH = 6
CODE_SPACE: int = len(ALPHABET) ** CODE_LENGTH - 10**CODE_LENGTH - (len(ALPHABET) - 10) ** CODE_LENGTH
"""How many codes may be issued: six characters with at least one digit and one letter (959,361,920),
so that a hyphenated word (``non-fat``) or a number (``123-456``) is never a code."""
ENTROPY_BITS = math.log2(CODE_SPACE)
"""29.84 bits."""
CODE_TTL_S = 600
"""A code is valid for 10 minutes after it is shown, and for one redemption."""
REDEEMED_KEPT_S = 600
"""After a code is redeemed, the same identity redeeming it again (a retry, a platform's redelivery)
gets the same answer for this long, so that a crash between redeeming and linking loses nothing; any
other identity is told there is no such code."""

# Typed look-alikes of Crockford's alphabet, and what separates the two halves.
_CONFUSED = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—−_.]+")
_TYPED_CHARS = set(ALPHABET) | {"O", "I", "L"}
_BARE_SHAPE = re.compile(r"([0-9A-Za-z]{3})\s*[-‐‑‒–—−]\s*([0-9A-Za-z]{3})")


def new_code() -> str:
    """A fresh code in canonical form (six characters, no dash), from :mod:`secrets`, uniform over the
    :data:`CODE_SPACE` codes with at least one digit and one letter."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if _mixed(code):
            return code


def shown(code: str) -> str:
    """A canonical code as it is shown: ``K7P4QD`` → ``K7P-4QD``."""
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalize(typed: str) -> str | None:
    """The canonical code ``typed`` means, or None when it cannot be one that was issued.

    Case does not matter, nor spaces, dashes, dots or underscores anywhere; full-width characters are
    read as their plain forms, and O, I, L as 0, 1, 1 (Crockford). ``k7p 4qd``, ``K7P-4QD`` and
    ``k7p4qd`` are all ``K7P4QD``; ``123-456`` and ``abc-def`` are None (no issued code lacks a digit or
    a letter), as is anything of another length.
    """
    if len(typed) > 4 * CODE_LENGTH:
        return None
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", typed)).upper().translate(_CONFUSED)
    if len(text) != CODE_LENGTH or not set(text) <= set(ALPHABET) or not _mixed(text):
        return None
    return text


def typed_code(text: str) -> str | None:
    """The code a whole message is, when it is one without ``/link``: the shape the bot shows (three
    characters, a dash, three characters), in any case, with at least one digit and one letter as typed
    (so ``non-fat`` or ``123-456`` is an answer, not a code), normalised as :func:`normalize` does.

    ``/link K7P-4QD`` is the command's argument and is read with :func:`normalize`. Like the bare command
    words, a bare code should not be looked for while a free-text question waits for its answer.
    """
    match = _BARE_SHAPE.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    raw = (match[1] + match[2]).upper()
    if not set(raw) <= _TYPED_CHARS or not _mixed(raw):
        return None
    return normalize(raw)


def _mixed(code: str) -> bool:
    return any(c in DIGITS for c in code) and any(c not in DIGITS for c in code)


def identity(secret: bytes, platform: str, user_id: str) -> str:
    """Who links: the respondent key of a platform account (a keyed hash; see
    :func:`bot.responses.respondent_key`). Links hold only these, for anonymous surveys too."""
    return respondent_key(secret, platform, user_id)


def code_key(secret: bytes) -> bytes:
    """The HMAC key of link codes, derived from the server secret (``SURVEYBOT_SECRET``): a key of
    their own, so that a code's hash is no respondent key nor any other of the secret's uses."""
    return hmac.new(secret, b"surveybot link codes", hashlib.sha256).digest()


def code_hash(key: bytes, code: str) -> str:
    """What the stores keep of ``code`` (canonical, from :func:`new_code` or :func:`normalize`): an HMAC
    under :func:`code_key`, hex, 32 characters. With only 2^30 codes a plain hash could be reversed by
    trying them all; without the key it cannot."""
    if normalize(code) != code:
        raise ValueError(f"not a canonical link code: {code!r}")
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class GuessPolicy:
    """How many *failed* redemptions are allowed before redeeming is refused without trying.

    ``per_identity`` failures per identity in ``identity_window_s`` (a window that starts at its first
    failure), and ``overall`` failures of everyone together in ``overall_window_s``, so that guessing
    from many fresh accounts is bounded too. A refused attempt is not tried, counts nothing and burns no
    code; a code redeemed, or one's own code, counts nothing. See docs/linking.md for the numbers.
    """

    per_identity: int = 5
    identity_window_s: int = 600
    overall: int = 20
    overall_window_s: int = 60

    def guesses_per_day(self) -> float:
        """The most codes anyone (everyone together) can try in a day."""
        return self.overall * 86400 / self.overall_window_s


POLICY = GuessPolicy()


def expected_guesses(live_codes: int) -> float:
    """How many distinct guesses it takes, on average, to hit one of ``live_codes`` live codes."""
    return (CODE_SPACE + 1) / (live_codes + 1)


class RedeemStatus(StrEnum):
    TAKEN = "taken"
    """The code was live: :attr:`Redemption.issuer` asked for it. It is gone, except for a retry of the
    same identity (:data:`REDEEMED_KEPT_S`)."""
    UNKNOWN = "unknown"
    """No such live code (never issued, expired, replaced, or redeemed by another): a failed attempt."""
    OWN = "own"
    """The identity's own live code, typed in the channel that asked for it: left live, not counted."""
    REFUSED = "refused"
    """Too many failed attempts: not tried. :attr:`Redemption.retry_after_s` says for how long."""


@dataclass(frozen=True)
class Redemption:
    status: RedeemStatus
    issuer: str | None = None
    """The identity that asked for the code (TAKEN and OWN)."""
    retry_after_s: int = 0
    """With REFUSED: when the window that refused ends (rounded up)."""
    overall: bool = False
    """With REFUSED: refused by the overall cap (everyone's failures), not by this identity's own."""
