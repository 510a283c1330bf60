"""What a pressed answer button means, encoded in the button's value and decoded here only.

A value names the survey version (a short tag, so that a button of an older version is known), the
question and, for a choice, its index: ``a:41c41d:flavour:1`` answers ``flavour`` with its second choice,
``t:…:toppings:2`` ticks or unticks a choice of a multi-choice question, ``d:…:toppings`` submits the
ticked choices. Command buttons (Back, Skip, a survey to start) carry the command as typed: ``/back``.
Adapters never look inside a value: they read a button's :class:`bot.messages.Role`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from bot.messages import Role
from bot.survey import Survey

_PREFIX = {Role.ANSWER: "a", Role.TOGGLE: "t", Role.SUBMIT: "d"}
_ROLE = {prefix: role for role, prefix in _PREFIX.items()}


def survey_tag(survey: Survey) -> str:
    """A short mark of one survey version, carried in button values so that stale buttons are known."""
    return _tag(survey.id, survey.version)


@functools.lru_cache(maxsize=1024)
def _tag(survey_id: str, version: int | None) -> str:
    return hashlib.sha1(f"{survey_id}@{version}".encode()).hexdigest()[:6]


@dataclass(frozen=True)
class Press:
    """A press on an answer button: ``role`` is ANSWER, TOGGLE or SUBMIT; ``index`` the choice (None for
    SUBMIT, and for a TOGGLE that sets the whole selection, see :attr:`bot.messages.Incoming.picked`)."""

    role: Role
    tag: str
    question_id: str
    index: int | None = None

    def encode(self) -> str:
        parts = [_PREFIX[self.role], self.tag, self.question_id]
        if self.index is not None:
            parts.append(str(self.index))
        return ":".join(parts)


def decode(value: str) -> Press | None:
    """The press a button value stands for; None for a value that is not an answer button's."""
    parts = value.split(":")
    if len(parts) not in (3, 4) or parts[0] not in _ROLE:
        return None
    index: int | None = None
    if len(parts) == 4:
        try:
            index = int(parts[3])
        except ValueError:
            return None
    return Press(_ROLE[parts[0]], parts[1], parts[2], index)
