"""Where a respondent stands, and what each kind of input does there: one table, read by the engine.

The state is derived, never stored on its own: ``IDLE`` when no response is in progress, ``PAUSED``
when the one in progress was paused with ``stop``, else ``ASKING`` (a question waits for its answer).
Paused means paused, whatever the input's form: typing an answer and pressing an answer button agree,
and only ``start`` resumes (``restart`` begins again, ``stop``, ``surveys`` and ``help`` work as ever).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"
    """No survey in progress (none begun, or the last one completed)."""
    ASKING = "asking"
    """A question of the survey in progress waits for its answer."""
    PAUSED = "paused"
    """The survey in progress was paused with ``stop``."""


class Input(StrEnum):
    ANSWER = "answer"
    """Typed text taken as an answer, or an answer button."""
    TOGGLE = "toggle"
    SUBMIT = "submit"
    BACK = "back"
    SKIP = "skip"
    RESTART = "restart"
    STOP = "stop"
    START = "start"
    SURVEYS = "surveys"
    HELP = "help"
    ATTACHMENT = "attachment"
    """A photo, a sticker, a file: something other than text."""


class Outcome(StrEnum):
    HANDLE = "handle"
    """Do what the input asks."""
    NOT_STARTED = "not_started"
    """Nothing is in progress to do it to: say so (a press: "already answered")."""
    PAUSED = "paused"
    """Say the survey is paused and that ``start`` continues it; change nothing."""


_H, _N, _P = Outcome.HANDLE, Outcome.NOT_STARTED, Outcome.PAUSED

TABLE: dict[State, dict[Input, Outcome]] = {
    #               ANSWER TOGGLE SUBMIT BACK SKIP RESTART STOP START SURVEYS HELP ATTACHMENT
    State.IDLE: dict(zip(Input, (_N, _N, _N, _N, _N, _N, _N, _H, _H, _H, _H), strict=True)),
    State.ASKING: dict(zip(Input, (_H, _H, _H, _H, _H, _H, _H, _H, _H, _H, _H), strict=True)),
    State.PAUSED: dict(zip(Input, (_P, _P, _P, _P, _P, _H, _H, _H, _H, _H, _P), strict=True)),
}
"""What each input does in each state; every pair is listed."""


def outcome(state: State, received: Input) -> Outcome:
    return TABLE[state][received]


class Standing(StrEnum):
    """Where a respondent stands with one survey (for a list of surveys such as Slack's Home tab)."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    """Completed, and one response per respondent: nothing more to do."""
    COMPLETED_AGAIN = "completed_again"
    """Completed before, and the survey takes a new response each time."""


@dataclass(frozen=True)
class SurveyStanding:
    survey_id: str
    title: str
    standing: Standing
