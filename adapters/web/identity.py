"""Web chat respondent ids that the server issues and signs, so that a client may keep one but cannot
invent another person's (``one_response_per_user`` was per client-chosen id: 100 scripted ballots in
4.5 s made one choice 97 %).

An id is ``NONCE.SIGNATURE``: 24 random hex digits and the first 20 hex digits of their HMAC-SHA256
under a key derived from ``SURVEYBOT_SECRET``, so that every worker process verifies what any one
issued. Issuing is rate-limited per client address (see :mod:`adapters.web.limits`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_SHAPE = re.compile(r"([0-9a-f]{24})\.([0-9a-f]{20})")


def web_key(respondent_secret: bytes) -> bytes:
    """The key respondent ids are signed with, derived from the deployment's respondent secret."""
    return hmac.new(respondent_secret, b"web chat respondent ids", hashlib.sha256).digest()


def sign(key: bytes, nonce: str) -> str:
    """The respondent id for ``nonce`` (24 hex digits); tests use it to make ids without asking."""
    return f"{nonce}.{hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:20]}"


def issue(key: bytes) -> str:
    """A new respondent id."""
    return sign(key, secrets.token_hex(12))


def verify(key: bytes, respondent: str) -> bool:
    """Whether ``respondent`` is an id this deployment issued (compared in constant time)."""
    shape = _SHAPE.fullmatch(respondent)
    return shape is not None and hmac.compare_digest(sign(key, shape[1]), respondent)
