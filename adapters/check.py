"""`surveybot check`: every path of a survey, what a respondent would stumble on, and transcripts.

The logic is :mod:`bot.analysis` (platform-neutral). This module adds what only the adapters know: each
platform's limits, measured on the messages the real renderers build with the longest answers filled in,
and transcripts: the real engine, on in-memory stores, taking a list of answers, its replies rendered as
the console, Telegram or Slack shows them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import adapters.slack.blocks as slack
from adapters import console
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from adapters.telegram.render import MAX_TEXT as TELEGRAM_TEXT
from adapters.telegram.render import chunks, keyboard, text_of
from bot import answers, placeholders
from bot.analysis import CODES, Analysis, Finding, PathReport, analyse
from bot.catalog import SurveyCache, publish
from bot.engine import Engine, question_message
from bot.messages import Button, Incoming, Kind, Outgoing
from bot.survey import Question, QuestionType, Survey

PLATFORMS = ("console", "telegram", "slack")
"""Where a transcript can be rendered."""

TELEGRAM_CALLBACK_BYTES = 64
"""Telegram's limit on a button's ``callback_data``."""
LONGEST_NAME = {"telegram": 129, "slack": 80}
"""The longest ``{respondent.name}``: Telegram's first and last names (64 each, and a space); Slack's
display name."""
LONGEST_EMAIL = 254
LONGEST_NUMBER = 24

LIMIT_CODES = {
    "telegram-text": "a text longer than Telegram's 4,096 characters a message, answers filled in",
    "telegram-button-data": "a button value longer than Telegram's 64 bytes of callback_data",
    "slack-section": "a text longer than Slack's 3,000 characters a section, answers filled in",
    "slack-blocks": "a message over Slack's 50 blocks: its text is cut",
    "slack-button": "a label longer than Slack's 75 characters a button: it is cut",
    "slack-no-buttons": "more choices than Slack's buttons can show: respondents type the answer",
}

ALL_CODES = {**CODES, **LIMIT_CODES}


@dataclass(frozen=True)
class CheckReport:
    """What ``surveybot check`` says of one survey."""

    survey: Survey
    paths: PathReport
    findings: tuple[Finding, ...]

    @property
    def survey_id(self) -> str:
        return self.survey.id

    @property
    def file(self) -> str:
        return self.survey.file

    def paths_line(self) -> str:
        p = self.paths
        count = f"more than {p.count:,}" if p.more else f"{p.count:,}"
        noun = "path" if p.count == 1 and not p.more else "paths"
        sampled = f" (sampled: {p.states:,} states walked, not every combination of answers tried)"
        return (
            f"{count} {noun}{sampled if p.sampled else ''}; "
            f"shortest {p.shortest} question{'s' if p.shortest != 1 else ''}, longest {p.longest}"
        )

    def text(self) -> str:
        questions = len(self.survey.questions)
        head = f"{self.file}: survey '{self.survey_id}', {questions} questions: {self.paths_line()}"
        lines = [head, *map(str, self.findings)]
        lines.append(f"{len(self.findings)} warning{'s' if len(self.findings) != 1 else ''}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        p = self.paths
        return {
            "file": self.file,
            "survey": self.survey_id,
            "version": self.survey.version,
            "questions": len(self.survey.questions),
            "paths": {
                "count": p.count,
                "more": p.more,
                "sampled": p.sampled,
                "shortest": p.shortest,
                "longest": p.longest,
                "states": p.states,
            },
            "warnings": [
                {
                    "code": f.code,
                    "file": f.file,
                    "line": f.line,
                    "question": f.question,
                    "message": f.message,
                }
                for f in self.findings
            ],
        }


def check_survey(survey: Survey, ignore: Iterable[str] = ()) -> CheckReport:
    """Walk ``survey``'s paths and measure its messages against every platform's limits; findings of
    the codes in ``ignore`` are left out."""
    analysis: Analysis = analyse(survey)
    skipped = set(ignore)
    found = [f for f in (*analysis.findings, *limit_findings(survey)) if f.code not in skipped]
    found.sort(key=lambda f: (f.line, f.code, f.message))
    return CheckReport(survey, analysis.paths, tuple(found))


REPORTS_KEPT = 64
_reports: dict[tuple[str, int | None, str], CheckReport] = {}


async def check_stored(survey: Survey) -> CheckReport:
    """:func:`check_survey` of a stored survey version, its paths walked in a worker thread; kept for the
    last few versions asked about, since a stored version never changes (the console, the API and chat
    uploads ask again and again)."""
    key = (survey.id, survey.version, survey.content_hash)
    report = _reports.get(key)
    if report is None:
        report = await asyncio.to_thread(check_survey, survey)
        if len(_reports) >= REPORTS_KEPT:
            _reports.pop(next(iter(_reports)))
        _reports[key] = report
    return report


def warnings_text(report: CheckReport) -> str:
    """The warnings of ``report`` as an upload's reply shows them, or "" when there are none."""
    if not report.findings:
        return ""
    count = len(report.findings)
    head = f"surveybot check: {count} warning{'s' if count != 1 else ''} ({report.paths_line()})"
    return "\n".join([head, *map(str, report.findings)])


async def upload_warnings(survey: Survey) -> str:
    """What a chat upload's reply adds after ``stored …``: the warnings of the survey just loaded."""
    return warnings_text(await check_stored(survey))


# --- platform limits --------------------------------------------------------------------------------


def longest_answer(question: Question) -> str:
    """The longest text ``{ID}`` can stand for (see ``bot.answers.display``)."""
    match question.type:
        case QuestionType.TEXT:
            return "x" * question.max_length
        case QuestionType.EMAIL:
            return "x" * LONGEST_EMAIL
        case QuestionType.SINGLE_CHOICE:
            return max((c.label for c in question.choices), key=len)
        case QuestionType.MULTI_CHOICE:
            labels = sorted((c.label for c in question.choices), key=len, reverse=True)
            return ", ".join(labels[: question.max_choices or len(labels)])
        case QuestionType.YES_NO:
            return "yes"
        case QuestionType.DATE:
            return "2000-01-01"
        case QuestionType.RATING | QuestionType.NPS:
            return str(answers.rating_bounds(question)[1])
    return "9" * LONGEST_NUMBER


def _filled(survey: Survey, template: str, platform: str) -> str:
    longest = {q.id: longest_answer(q) for q in survey.questions}

    def lookup(name: str) -> str:
        if name == placeholders.RESPONDENT_NAME:
            return "x" * LONGEST_NAME[platform]
        return longest.get(name, "")

    return placeholders.render(template, lookup)


@dataclass(frozen=True)
class _Text:
    """A text a respondent may be sent: where it is written, and as what message."""

    line: int
    where: str
    question: Question | None
    template: str


def _texts(survey: Survey) -> Iterable[_Text]:
    for key in ("welcome", "goodbye"):
        template = getattr(survey, key)
        if template:
            yield _Text(survey.lines.get(key, 1), key, None, template)
    for question in survey.questions:
        yield _Text(question.line("text"), "text", question, question.text)
        for key in ("reply", "error"):
            template = getattr(question, key)
            if template:
                yield _Text(question.line(key), key, question, template)
        for choice in question.choices:
            if choice.reply:
                yield _Text(choice.line, f"the reply of choice '{choice.id}'", question, choice.reply)


def _message(survey: Survey, text: _Text, platform: str) -> Outgoing:
    filled = _filled(survey, text.template, platform)
    if text.where == "text" and text.question is not None:
        return question_message(survey, text.question, filled, "0")
    return Outgoing(chat_id="0", text=filled, kind=Kind.ERROR if text.where == "error" else Kind.INFO)


def limit_findings(survey: Survey) -> list[Finding]:
    """The messages of ``survey``, in each of its languages, measured against Telegram's and Slack's
    limits (see :data:`LIMIT_CODES`)."""
    found: list[Finding] = []
    for language in survey.languages or (None,):
        found += _limit_findings(survey.in_language(language), len(survey.languages) > 1)
    return found


def _limit_findings(survey: Survey, say_language: bool) -> list[Finding]:
    found: list[Finding] = []

    def add(code: str, text: _Text, message: str) -> None:
        question = text.question.id if text.question is not None else None
        where = f"({survey.language}) " if say_language else ""
        found.append(Finding(survey.file, text.line, where + message, question, code))

    for text in _texts(survey):
        telegram = _message(survey, text, "telegram")
        length = len(text_of(telegram))
        if length > TELEGRAM_TEXT:
            parts = len(chunks(text_of(telegram)))
            add(
                "telegram-text",
                text,
                f"{text.where}: {length:,} characters with the longest answers filled in; Telegram takes "
                f"{TELEGRAM_TEXT:,} a message, so it is sent as {parts} messages",
            )
        if text.where == "text" and text.question is not None:
            for button in (*telegram.choices, *telegram.actions):
                size = len(button.value.encode())
                if size > TELEGRAM_CALLBACK_BYTES:
                    add(
                        "telegram-button-data",
                        text,
                        f"the button {button.label!r} carries {size} bytes; Telegram takes "
                        f"{TELEGRAM_CALLBACK_BYTES} (shorten the question id)",
                    )
        _slack_limits(survey, text, _message(survey, text, "slack"), add)
    return found


def _slack_limits(
    survey: Survey, text: _Text, message: Outgoing, add: Callable[[str, _Text, str], None]
) -> None:
    escaped = len(slack.escape(slack.slack_words(message.text)))
    if escaped > slack.MAX_SECTION_TEXT:
        sections = sum(1 for b in slack.render(message).blocks if b["type"] == "section")
        add(
            "slack-section",
            text,
            f"{text.where}: {escaped:,} characters with the longest answers filled in; Slack takes "
            f"{slack.MAX_SECTION_TEXT:,} a section, so it is shown in {sections} sections",
        )
    if message.kind is not Kind.QUESTION:
        return
    whole = len(slack.text_blocks(slack.slack_words(message.text), 10**6))
    rendered = slack.render(message)
    sections = sum(1 for b in rendered.blocks if b["type"] == "section")
    if sections < whole:
        add(
            "slack-blocks",
            text,
            f"with its buttons the question needs {whole + len(rendered.blocks) - sections} blocks; Slack "
            f"takes {slack.MAX_MESSAGE_BLOCKS}, so its text is cut after {sections} sections",
        )
    per_group = slack.MAX_CHECKBOX_OPTIONS if message.multi else slack.MAX_ACTION_ELEMENTS
    groups = -(-len(message.choices) // per_group)
    if groups > slack.MAX_ANSWER_BLOCKS:
        add(
            "slack-no-buttons",
            text,
            f"{len(message.choices)} choices: Slack shows at most {slack.MAX_ANSWER_BLOCKS * per_group} as "
            "buttons, so respondents there type the answer",
        )
    choices = text.question.choices if text.question is not None else ()
    for i, button in enumerate(message.choices):
        limit = slack.MAX_OPTION_TEXT if message.multi else slack.MAX_BUTTON_TEXT
        if len(button.label) > limit:
            at = choices[i].line if i < len(choices) and choices[i].line else text.line
            add(
                "slack-button",
                replace(text, line=at),
                f"the label {button.label[:40]!r}… has {len(button.label)} characters; Slack shows {limit} "
                "on a button",
            )


# --- transcripts ------------------------------------------------------------------------------------

USER = "author"
NAME = "Alex"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class TranscriptError(Exception):
    """An answer of a transcript cannot be given: a ``[Label]`` no button of the last question has."""


class _Chat:
    """One respondent's conversation with a real engine on in-memory stores, rendered as ``platform``
    shows it: numbered messages, edits and buttons included."""

    def __init__(self, survey: Survey, platform: str, language: str | None = None) -> None:
        self.survey = survey
        self.platform = platform
        self.language = language
        self.lines: list[str] = []
        self.buttons: list[Button] = []
        self.message_id: str | None = None
        self.question: str | None = None
        self.count = 0
        store = InMemorySurveyStore()
        self.store = store
        self.engine = Engine(
            SurveyCache(store),
            InMemoryResponseStore(),
            InMemorySessionStore(),
            secret=b"surveybot check transcripts",
            clock=lambda: _EPOCH,
        )

    async def send(self, said: str) -> None:
        pressed = said.startswith("[") and said.endswith("]") and len(said) > 2
        if pressed:
            label = said[1:-1]
            button = next((b for b in self.buttons if b.label == label), None)
            if button is None:
                offered = ", ".join(f"[{b.label}]" for b in self.buttons) or "none"
                raise TranscriptError(f"no button {said} on the last question (buttons: {offered})")
            self.lines.append(f"> presses [{label}]")
            msg = Incoming(
                self.platform,
                USER,
                NAME,
                USER,
                button=button.value,
                message_id=self.message_id,
                language=self.language,
            )
        else:
            self.lines.append(f"> {said}")
            msg = Incoming(
                self.platform, USER, NAME, USER, text=said, question_id=self.question, language=self.language
            )
        replies = await self.engine.handle(msg)
        for reply in replies:
            await self._show(reply)
        self.lines.append("")

    async def _show(self, message: Outgoing) -> None:
        if message.edit_of is not None:
            self._edit(message)
            return
        self.count += 1
        number = str(self.count)
        self._post(number, message)
        if message.kind is Kind.QUESTION:
            self.question = message.question_id
            self.buttons = [*message.choices, *message.actions]
        if message.live_question is not None:
            self.message_id = number
            await self.engine.shown(self.platform, USER, message.live_question, number)

    def _edit(self, message: Outgoing) -> None:
        if self.platform == "console":
            return  # a terminal shows no edits
        what = {Kind.ANSWERED: "answered", Kind.SELECTION: "ticks", Kind.RETIRED: "buttons removed"}
        self.lines.append(f"  (message #{message.edit_of} edited: {what.get(message.kind, message.kind)})")
        if message.kind is Kind.ANSWERED:
            self.lines += [f"    {line}" for line in message.text.splitlines()]
        if message.kind is Kind.SELECTION:
            self.buttons = [*message.choices, *message.actions]
            self.lines += [f"    {row}" for row in self._rows(message)]

    def _post(self, number: str, message: Outgoing) -> None:
        if self.platform == "console":
            shown = console.render(message)
            self.lines += shown.splitlines() if shown else []
            return
        if self.platform == "telegram":
            if message.kind is Kind.NOTICE:
                self.lines.append(f"  (notice) {message.text}")
                return
            parts = chunks(text_of(message))
            for n, part in enumerate(parts, 1):
                suffix = f" (part {n} of {len(parts)})" if len(parts) > 1 else ""
                self.lines.append(f"#{number}{suffix}")
                self.lines += [f"  {line}" for line in part.splitlines()]
        else:
            if message.kind is Kind.NOTICE:
                self.lines.append(f"  (only visible to you) {slack.notice_text(message)}")
                return
            self.lines.append(f"#{number}")
            for block in slack.render(message).blocks:
                self.lines += [f"  {line}" for line in _slack_block(block)]
            return
        self.lines += [f"  {row}" for row in self._rows(message)]

    def _rows(self, message: Outgoing) -> list[str]:
        if self.platform == "telegram":
            markup = keyboard(message)
            if markup is None:
                return []
            return [" ".join(f"[{b.text}]" for b in row) for row in markup.inline_keyboard]
        return [line for block in slack.render(message).blocks[1:] for line in _slack_block(block)]


def _slack_block(block: dict[str, Any]) -> list[str]:
    kind = block["type"]
    if kind == "section":
        return str(block["text"]["text"]).splitlines() or [""]
    if kind == "context":
        return [f"({element['text']})" for element in block["elements"]]
    if kind == "actions":
        shown: list[str] = []
        for element in block["elements"]:
            if element["type"] == "checkboxes":
                picked = {o["value"] for o in element.get("initial_options", [])}
                shown += [
                    f"{'☑' if o['value'] in picked else '☐'} {o['text']['text']}" for o in element["options"]
                ]
            else:
                shown.append(f"[{element['text']['text']}]")
        return [" ".join(shown)] if not any(s[0] in "☐☑" for s in shown) else shown
    return [f"({kind} block)"]


async def _transcript(survey: Survey, said: Sequence[str], platform: str, language: str | None) -> str:
    chat = _Chat(survey, platform, language)
    await publish(chat.store, replace(survey, version=survey.version or 1))
    # Slack keeps typed /commands for itself: there respondents type the bare word.
    await chat.send(f"{'' if platform == 'slack' else '/'}start {survey.id}")
    for line in said:
        await chat.send(line)
    return "\n".join(chat.lines).rstrip() + "\n"


def transcript(
    survey: Survey, said: Sequence[str], platform: str = "console", language: str | None = None
) -> str:
    """The conversation of a respondent who starts ``survey`` and says ``said``, one entry a message
    (``[Label]`` presses the button so labelled), as ``platform`` shows it, to a respondent whose
    platform speaks ``language`` (None: English).

    Raises :class:`TranscriptError` when a ``[Label]`` names no button of the question then asked."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(PLATFORMS)}")
    return asyncio.run(_transcript(survey, said, platform, language))


def read_answers(text: str) -> list[str]:
    """A transcript's answers file: one answer a line, blank lines and lines starting with ``#`` left out
    (write ``\\#`` for an answer that starts with ``#``)."""
    found: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found.append(stripped[1:] if stripped.startswith("\\#") else stripped)
    return found


def path_transcripts(
    survey: Survey, report: CheckReport, platform: str, language: str | None = None
) -> list[tuple[str, str]]:
    """One ``(file name, transcript)`` per path of ``report``: the answers that take it, then the
    conversation; names numbered in the order the paths were found, which does not change run to run."""
    files: list[tuple[str, str]] = []
    width = max(3, len(str(len(report.paths.answers))))
    for number, said in enumerate(report.paths.answers, 1):
        head = "".join(f"# answer: {line}\n" for line in said)
        body = transcript(survey, said, platform, language)
        files.append((f"{survey.id}.path-{number:0{width}d}.{platform}.txt", head + "\n" + body))
    return files


__all__ = [
    "ALL_CODES",
    "PLATFORMS",
    "CheckReport",
    "Finding",
    "TranscriptError",
    "check_stored",
    "check_survey",
    "limit_findings",
    "path_transcripts",
    "read_answers",
    "transcript",
    "upload_warnings",
    "warnings_text",
]
