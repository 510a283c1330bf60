"""Which question comes next: pure functions of a survey and the answers on a response's path."""

from __future__ import annotations

from collections.abc import Mapping

from bot.responses import AnswerValue, Response
from bot.survey import END, Question, Survey


def next_question(survey: Survey, after: str | None, values: Mapping[str, AnswerValue]) -> Question | None:
    """The question that follows ``after`` (None: the start), or None when the survey is finished.

    The first ``next`` rule of ``after`` that holds decides where to go, else the question that follows it
    in the file; from there, questions whose ``show_if`` is false are passed over.
    """
    if after is None:
        start = 0
    else:
        start = survey.index(after) + 1
        for rule in survey.question(after).next:
            if rule.condition is None or rule.condition.test(values):
                if rule.goto == END:
                    return None
                start = survey.index(rule.goto)
                break
    for question in survey.questions[start:]:
        if question.show_if is None or question.show_if.test(values):
            return question
    return None


def current_question(survey: Survey, response: Response) -> Question | None:
    """The question a response is waiting for: the one after the last on its path."""
    return next_question(survey, response.path[-1] if response.path else None, response.values())
