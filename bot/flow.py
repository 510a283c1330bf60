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


def may_end_after(survey: Survey, question_id: str) -> bool:
    """Whether, for some answers, no question follows ``question_id``: a ``next`` rule goes to the end,
    or every question from where a rule or the file order leads has a ``show_if``. The engine asks so
    as to write a last answer and the completion at once, and reads the answers only when it may."""
    question = survey.question(question_id)
    if any(rule.goto == END for rule in question.next):
        return True
    starts = {survey.index(question_id) + 1, *(survey.index(rule.goto) for rule in question.next)}
    return any(all(q.show_if is not None for q in survey.questions[start:]) for start in starts)


def current_question(survey: Survey, response: Response) -> Question | None:
    """The question a response is waiting for: the one after the last on its path."""
    return next_question(survey, response.path[-1] if response.path else None, response.values())
