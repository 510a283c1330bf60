"""The respondent's states and what each input does there: one table, complete."""

from __future__ import annotations

from bot.states import TABLE, Input, Outcome, State, outcome


def test_every_state_answers_every_input() -> None:
    assert set(TABLE) == set(State)
    assert all(set(row) == set(Input) for row in TABLE.values())


def test_while_asking_everything_is_handled() -> None:
    assert {outcome(State.ASKING, i) for i in Input} == {Outcome.HANDLE}


def test_paused_refuses_answers_of_every_form_and_only_start_resumes() -> None:
    refused = {i for i in Input if outcome(State.PAUSED, i) is Outcome.PAUSED}
    assert refused == {Input.ANSWER, Input.TOGGLE, Input.SUBMIT, Input.BACK, Input.SKIP, Input.ATTACHMENT}
    assert outcome(State.PAUSED, Input.START) is Outcome.HANDLE


def test_with_nothing_in_progress_only_starting_listing_and_help_do_anything() -> None:
    handled = {i for i in Input if outcome(State.IDLE, i) is Outcome.HANDLE}
    assert handled == {Input.START, Input.SURVEYS, Input.HELP, Input.ATTACHMENT}
