"""Load survey YAML files (format version 1) into :class:`~bot.survey.Survey` values.

A file is refused whole: every problem found is listed in one :class:`~bot.errors.DefinitionError`, each
located at the line of the field it is about. YAML is read with PyYAML's safe loader, except that only
``true``/``false`` are booleans: ``yes``, ``no``, ``on``, ``off`` stay the strings the author wrote.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from yaml.reader import ReaderError

from bot import placeholders
from bot.errors import DefinitionError, ExpressionError, Problem
from bot.expressions import MAX_DEPTH, Expression, parse
from bot.patterns import pattern_problem
from bot.survey import (
    COMPLETED,
    END,
    EVENTS,
    Broadcast,
    Choice,
    Question,
    QuestionType,
    Rule,
    Settings,
    Survey,
    Webhook,
)

log = logging.getLogger("surveybot.loader")

# --- YAML with line numbers -------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _SurveyYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose only booleans are ``true`` and ``false`` (any case)."""


_SurveyYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SurveyYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|false)$", re.IGNORECASE), list("tTfF")
)


_UNREADABLE = object()
"""The value of a scalar that could not be read; a problem has been reported for it already."""


@dataclass(frozen=True)
class _Scalar:
    value: object
    """What the safe constructor made of it: str, int, float, bool, None, date, datetime or bytes."""
    line: int


@dataclass(frozen=True)
class _List:
    items: tuple[_Yaml, ...]
    line: int


@dataclass(frozen=True)
class _Entry:
    key_line: int
    value: _Yaml


@dataclass(frozen=True)
class _Map:
    entries: dict[Hashable, _Entry]
    line: int
    duplicates: tuple[tuple[Hashable, int], ...] = ()
    """Keys written more than once, with the line of each repetition (the first one is kept)."""


_Yaml = _Scalar | _List | _Map


@dataclass
class _Report:
    """The problems found so far in one file."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, line: int, message: str, question: str | None = None) -> None:
        self.problems.append(Problem(self.file, line, message, question))


def _yaml_error_problem(error: yaml.YAMLError, text: str) -> tuple[int, str]:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        context = error.context or ""
        if context and error.context_mark is not None and error.context_mark.line + 1 != line:
            context += f" at line {error.context_mark.line + 1}"
        what = " ".join(part for part in (context, error.problem) if part)
        return line, f"invalid YAML: {what}"
    if isinstance(error, ReaderError):
        line = text.count("\n", 0, error.position) + 1
        return line, f"invalid YAML: character {error.character!r} is not allowed"
    return 1, f"invalid YAML: {error}"


class _Converter:
    """Turns the composed node tree into located values, reporting what safe loading would refuse."""

    def __init__(self, loader: _SurveyYamlLoader, report: _Report) -> None:
        self._loader = loader
        self._report = report
        self._done: dict[int, _Yaml] = {}
        self._open: set[int] = set()

    def convert(self, node: yaml.Node) -> _Yaml:
        key = id(node)
        if key in self._done:  # an alias: the same node again
            return self._done[key]
        line = node.start_mark.line + 1
        if key in self._open:
            self._report.add(line, "invalid YAML: an alias refers to a node that contains it")
            return _Scalar(_UNREADABLE, line)
        self._open.add(key)
        try:
            converted = self._convert(node, line)
        finally:
            self._open.discard(key)
        self._done[key] = converted
        return converted

    def _convert(self, node: yaml.Node, line: int) -> _Yaml:
        if isinstance(node, yaml.ScalarNode):
            try:
                return _Scalar(self._loader.construct_object(node, deep=True), line)
            except (yaml.YAMLError, ValueError) as error:
                problem = error.problem if isinstance(error, yaml.MarkedYAMLError) else str(error)
                self._report.add(line, f"invalid YAML value {_short(node.value)}: {problem}")
                return _Scalar(_UNREADABLE, line)
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            self._report.add(line, f"invalid YAML: the tag {node.tag!r} is not supported")
            return _Scalar(_UNREADABLE, line)
        if isinstance(node, yaml.SequenceNode):
            return _List(tuple(self.convert(item) for item in node.value), line)
        assert isinstance(node, yaml.MappingNode)
        return self._mapping(node, line)

    def _mapping(self, node: yaml.MappingNode, line: int) -> _Map:
        entries: dict[Hashable, _Entry] = {}
        merged: dict[Hashable, _Entry] = {}
        duplicates: list[tuple[Hashable, int]] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                for source in self._merge_sources(value_node):
                    for merged_key, entry in source.entries.items():
                        merged.setdefault(merged_key, entry)
                continue
            key = self.convert(key_node)
            if isinstance(key, _Scalar) and key.value is _UNREADABLE:
                continue
            if not isinstance(key, _Scalar) or not isinstance(key.value, Hashable):
                self._report.add(key_line, "invalid YAML: a mapping key must be a plain value")
                continue
            if key.value in entries:
                duplicates.append((key.value, key_line))
                continue
            entries[key.value] = _Entry(key_line, self.convert(value_node))
        return _Map({**merged, **entries}, line, tuple(duplicates))

    def _merge_sources(self, node: yaml.Node) -> list[_Map]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        maps = [self.convert(source) for source in sources]
        if not all(isinstance(source, _Map) for source in maps):
            self._report.add(node.start_mark.line + 1, "invalid YAML: '<<' must merge mappings")
        return [source for source in maps if isinstance(source, _Map)]


MAX_NUMBER = 10**15
"""The largest magnitude of a number in a survey file (bounds of answers, lengths, counts): beyond it
floats lose whole numbers, and nothing a survey asks for needs more."""
MAX_VERSION = 1_000_000
MAX_TEXT_LENGTH = 10_000
"""The largest ``max_length`` of a text answer (the web chat takes 4,000 characters a message)."""
MAX_RATING_VALUES = 21
"""The most values a rating offers (0 to 20), each a button."""
MAX_SESSION_TTL = 365 * 86400
MAX_RESPONSES = 1_000_000_000


def _short(value: object) -> str:
    """A number for a problem line: a 5,000-digit literal is not quoted whole (nor converted, which
    would raise past Python's 4,300-digit limit)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 200:
        return "a number of over 60 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _too_deep(text: str) -> tuple[int, str] | None:
    """The line where YAML collections nest deeper than :data:`MAX_DEPTH`, found on the token stream
    (which PyYAML reads without recursion, unlike the composer); None when they do not."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENING):
                depth += 1
                if depth > MAX_DEPTH:
                    return token.start_mark.line + 1, f"the YAML nests deeper than {MAX_DEPTH} levels"
            elif isinstance(token, _CLOSING):
                depth -= 1
    except yaml.YAMLError:
        return None  # the composer reports it, with its line
    return None


_OPENING = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSING = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _read_yaml(text: str, report: _Report) -> _Yaml | None:
    """The single document in ``text`` as located values; None (with a problem) when there is none."""
    deep = _too_deep(text)
    if deep is not None:
        report.add(*deep)
        return None
    try:
        loader = _SurveyYamlLoader(text)
    except yaml.YAMLError as error:  # a character YAML does not allow
        report.add(*_yaml_error_problem(error, text))
        return None
    try:
        root = loader.get_single_node()
        if root is None:
            report.add(1, "the file is empty")
            return None
        return _Converter(loader, report).convert(root)
    except yaml.YAMLError as error:
        report.add(*_yaml_error_problem(error, text))
        return None
    finally:
        loader.dispose()


def _plain(node: _Yaml) -> object:
    """The value as loaded, JSON-ready: dates as ISO strings, keys as strings."""
    if isinstance(node, _List):
        return [_plain(item) for item in node.items]
    if isinstance(node, _Map):
        return {str(key): _plain(entry.value) for key, entry in node.entries.items()}
    if isinstance(node.value, dt.date):  # also datetime
        return node.value.isoformat()
    return node.value


def _content_hash(root: _Map) -> str:
    """SHA-256 of the canonical JSON of the document without its top-level ``version``."""
    document = {str(key): _plain(entry.value) for key, entry in root.entries.items() if key != "version"}
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- Reading fields ---------------------------------------------------------------------------------


def _describe(node: _Yaml) -> str:
    if isinstance(node, _List):
        return "a list"
    if isinstance(node, _Map):
        return "a mapping"
    value = node.value
    if value is _UNREADABLE:
        return "a value that cannot be read"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "empty (null)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dt.datetime):
        return "a date and time"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"a {type(value).__name__} value"


def _quote_hint(node: _Yaml) -> str:
    return "; put it in quotes" if isinstance(node, _Scalar) and node.value is not None else ""


class _Fields:
    """The fields of one YAML mapping, each read as the type it must have or reported as a problem."""

    def __init__(self, report: _Report, node: _Map, question: str | None = None) -> None:
        self._report = report
        self._node = node
        self.question = question
        for key, line in node.duplicates:
            self.problem(line, f"duplicate field '{key}'")

    def problem(self, line: int, message: str) -> None:
        self._report.add(line, message, self.question)

    def has(self, key: str) -> bool:
        return key in self._node.entries

    def line(self, key: str) -> int:
        """The line of ``key``, or of the mapping when it is absent."""
        entry = self._node.entries.get(key)
        return entry.key_line if entry is not None else self._node.line

    def get(self, key: Hashable, *, required: bool = False) -> _Yaml | None:
        entry = self._node.entries.get(key)
        if entry is None:
            if required:
                self.problem(self._node.line, f"missing required field '{key}'")
            return None
        if isinstance(entry.value, _Scalar) and entry.value.value is _UNREADABLE:
            return None
        return entry.value

    def _wrong(self, key: Hashable, node: _Yaml, expected: str, hint: str = "") -> None:
        self.problem(node.line, f"'{key}' must be {expected}, not {_describe(node)}{hint}")

    def string(self, key: Hashable, *, required: bool = False) -> str | None:
        node = self.get(key, required=required)
        if node is None:
            return None
        if not isinstance(node, _Scalar) or not isinstance(node.value, str):
            self._wrong(key, node, "text", _quote_hint(node))
            return None
        if not node.value.strip():
            self.problem(node.line, f"'{key}' must not be empty")
            return None
        return node.value

    def boolean(self, key: str) -> bool | None:
        node = self.get(key)
        if node is None:
            return None
        if not isinstance(node, _Scalar) or not isinstance(node.value, bool):
            self._wrong(key, node, "true or false")
            return None
        return node.value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int = MAX_NUMBER) -> int | None:
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, _Scalar) else None
        if not isinstance(value, int) or isinstance(value, bool):
            self._wrong(key, node, "a whole number")
            return None
        if minimum is not None and value < minimum:
            self.problem(node.line, f"'{key}' must be at least {minimum}, not {_short(value)}")
            return None
        if value > maximum or (minimum is None and value < -maximum):
            bounds = f"at most {maximum}" if minimum is not None else f"between {-maximum} and {maximum}"
            self.problem(node.line, f"'{key}' must be {bounds}, not {_short(value)}")
            return None
        return value

    def number(self, key: str) -> float | None:
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, _Scalar) else None
        unfit = isinstance(value, float) and not math.isfinite(value)
        if not isinstance(value, int | float) or isinstance(value, bool) or unfit:
            self._wrong(key, node, "a number")
            return None
        if not -MAX_NUMBER <= value <= MAX_NUMBER:
            self.problem(
                node.line, f"'{key}' must be between {-MAX_NUMBER} and {MAX_NUMBER}, not {_short(value)}"
            )
            return None
        return float(value)

    def date(self, key: str) -> str | None:
        """An ISO date ``YYYY-MM-DD``, written bare (a YAML date) or quoted."""
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, _Scalar) else None
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError as error:
                self.problem(node.line, f"'{key}' is not a valid date: {error}")
                return None
        self._wrong(key, node, "a date YYYY-MM-DD")
        return None

    def list(self, key: str, *, required: bool = False) -> _List | None:
        node = self.get(key, required=required)
        if node is not None and not isinstance(node, _List):
            self._wrong(key, node, "a list")
            return None
        return node

    def mapping(self, key: str) -> _Map | None:
        node = self.get(key)
        if node is not None and not isinstance(node, _Map):
            self._wrong(key, node, "a mapping")
            return None
        return node

    def check_unknown(self, allowed: Collection[str], where: str = "") -> None:
        for key, entry in self._node.entries.items():
            if key not in allowed:
                self.problem(entry.key_line, f"unknown field '{key}'{where}")


def _webhook_url(fields: _Fields, url: str, line: int) -> bool:
    """Whether ``url`` may receive a survey's webhooks; reports why not."""
    if len(url) > MAX_URL_LENGTH:
        fields.problem(line, f"a webhook url must be at most {MAX_URL_LENGTH} characters")
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        fields.problem(line, f"the webhook url {url!r} cannot be read")
        return False
    if parts.scheme not in ("https", "http") or not host:
        fields.problem(line, f"a webhook url must be https://HOST/…, not {url!r}")
        return False
    if parts.scheme == "http" and host not in _LOCAL_HOSTS:
        fields.problem(line, "a webhook url must use https (http only to localhost, for trying it out)")
        return False
    if parts.username is not None or parts.password is not None:
        fields.problem(line, "a webhook url must not hold a user name or password (it would be logged)")
        return False
    return True


# --- The survey -------------------------------------------------------------------------------------

_SURVEY_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ITEM_ID = re.compile(r"[a-z][a-z0-9_]*")
"""Question and choice ids."""
_MAX_ID_LENGTH = 32
_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

_TOP_FIELDS = frozenset({"id", "title", "version", "settings", "welcome", "goodbye", "questions"})
_SETTINGS_FIELDS = frozenset(
    {
        "one_response_per_user",
        "allow_back",
        "anonymous",
        "session_ttl",
        "max_responses",
        "webhooks",
        "broadcast",
    }
)
_BROADCAST_CHATS = {
    "telegram_chat": (
        "telegram",
        re.compile(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}"),
        "a chat id or @channel",
    ),
    "slack_channel": ("slack", re.compile(r"[CG][A-Z0-9]{6,20}"), "a channel id like C0123ABCD"),
}
MAX_BROADCASTS = 5
_WEBHOOK_FIELDS = frozenset({"url", "events"})
MAX_WEBHOOKS = 5
MAX_URL_LENGTH = 2000
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_COMMON_FIELDS = frozenset({"id", "type", "text", "required", "show_if", "next", "reply", "error"})
_TYPE_FIELDS: dict[QuestionType, frozenset[str]] = {
    QuestionType.TEXT: frozenset({"min_length", "max_length", "pattern"}),
    QuestionType.NUMBER: frozenset({"min", "max", "integer"}),
    QuestionType.SINGLE_CHOICE: frozenset({"choices"}),
    QuestionType.MULTI_CHOICE: frozenset({"choices", "min_choices", "max_choices"}),
    QuestionType.RATING: frozenset({"min", "max", "labels"}),
    QuestionType.NPS: frozenset(),
    QuestionType.YES_NO: frozenset(),
    QuestionType.DATE: frozenset({"min", "max"}),
    QuestionType.EMAIL: frozenset(),
}
_ANY_TYPE_FIELDS = frozenset().union(*_TYPE_FIELDS.values())


def choice_id(label: str) -> str:
    """The id a plain-string choice gets: ``Dark chocolate`` → ``dark_chocolate``, ``42`` → ``c_42``.

    Lower-cased, every run of characters other than ``a-z0-9`` made one ``_``, cut to 32 characters.
    """
    derived = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if not derived[:1].isalpha():
        derived = "c_" + derived
    return derived[:_MAX_ID_LENGTH].rstrip("_")


def _id_problem(value: str, pattern: re.Pattern[str], rule: str) -> str | None:
    if not pattern.fullmatch(value):
        return f"id {value!r} must match {rule}"
    if len(value) > _MAX_ID_LENGTH:
        return f"id {value!r} is longer than {_MAX_ID_LENGTH} characters"
    return None


def _peek_id(node: _Yaml) -> tuple[str, int] | None:
    """The ``id`` string of a question mapping and its line, when it has one."""
    if isinstance(node, _Map) and "id" in node.entries:
        value = node.entries["id"].value
        if isinstance(value, _Scalar) and isinstance(value.value, str):
            return value.value, value.line
    return None


def _before_any_question(name: str) -> str:
    return (
        f"question '{name}', but the welcome comes before any question: only {{respondent.name}} can be used"
    )


class _SurveyReader:
    """Reads and checks one survey document; a survey comes out only when nothing was reported."""

    def __init__(self, report: _Report) -> None:
        self._report = report
        self._positions: dict[str, int] = {}
        """Question id → index of its first question in the file."""

    def read(self, root: _Yaml) -> Survey | None:
        if not isinstance(root, _Map):
            self._report.add(root.line, "a survey file must be a mapping with id, title and questions")
            return None
        top = _Fields(self._report, root)
        top.check_unknown(_TOP_FIELDS)
        survey_id = top.string("id", required=True)
        if survey_id is not None and (problem := _id_problem(survey_id, _SURVEY_ID, "[a-z0-9][a-z0-9_-]*")):
            top.problem(top.line("id"), problem)
        title = top.string("title", required=True)
        version = top.integer("version", minimum=1, maximum=MAX_VERSION)
        settings = self._settings(top)
        welcome = top.string("welcome")
        goodbye = top.string("goodbye")

        questions: list[Question] = []
        question_nodes = top.list("questions", required=True)
        if question_nodes is not None:
            if not question_nodes.items:
                top.problem(question_nodes.line, "'questions' must list at least one question")
            self._index_ids(question_nodes.items)
            for position, node in enumerate(question_nodes.items):
                question = self._question(node, position)
                if question is not None:
                    questions.append(question)
        after_all = len(question_nodes.items) if question_nodes is not None else 0
        self._check_template(top, "welcome", welcome, _before_any_question)
        self._check_template(top, "goodbye", goodbye, lambda name: self._name_problem(name, after_all))

        if self._report.problems or survey_id is None or title is None:
            return None
        return Survey(
            id=survey_id,
            title=title,
            questions=tuple(questions),
            settings=settings,
            welcome=welcome,
            goodbye=goodbye,
            version=version,
        )

    def _settings(self, top: _Fields) -> Settings:
        node = top.mapping("settings")
        if node is None:
            return Settings()
        fields = _Fields(self._report, node)
        fields.check_unknown(_SETTINGS_FIELDS, " in settings")
        defaults = Settings()
        one_response = fields.boolean("one_response_per_user")
        allow_back = fields.boolean("allow_back")
        anonymous = fields.boolean("anonymous")
        session_ttl = self._duration(fields, "session_ttl")
        max_responses = fields.integer("max_responses", minimum=1, maximum=MAX_RESPONSES)
        webhooks = self._webhooks(fields)
        broadcasts = self._broadcasts(fields)
        return Settings(
            one_response_per_user=defaults.one_response_per_user if one_response is None else one_response,
            allow_back=defaults.allow_back if allow_back is None else allow_back,
            anonymous=defaults.anonymous if anonymous is None else anonymous,
            session_ttl=defaults.session_ttl if session_ttl is None else session_ttl,
            max_responses=max_responses,
            webhooks=webhooks,
            broadcasts=broadcasts,
        )

    def _broadcasts(self, settings: _Fields) -> tuple[Broadcast, ...]:
        """``settings.broadcast``: chats each completed response is posted to, each ``{telegram_chat: ID}``
        or ``{slack_channel: ID}``."""
        node = settings.list("broadcast")
        if node is None:
            return ()
        if len(node.items) > MAX_BROADCASTS:
            settings.problem(node.line, f"at most {MAX_BROADCASTS} broadcast chats, not {len(node.items)}")
            return ()
        chats: list[Broadcast] = []
        for item in node.items:
            entries = item.entries if isinstance(item, _Map) else {}
            if len(entries) != 1 or next(iter(entries)) not in _BROADCAST_CHATS:
                settings.problem(item.line, "a broadcast is {telegram_chat: ID} or {slack_channel: ID}")
                continue
            ((key, entry),) = entries.items()
            platform, pattern, expected = _BROADCAST_CHATS[str(key)]
            value = entry.value.value if isinstance(entry.value, _Scalar) else None
            chat = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
            if not pattern.fullmatch(chat):
                settings.problem(
                    entry.value.line, f"'{key}' must be {expected}, not {_describe(entry.value)}"
                )
                continue
            broadcast = Broadcast(platform, chat)
            if broadcast in chats:
                settings.problem(item.line, f"the {platform} chat {chat} is named twice")
                continue
            chats.append(broadcast)
        return tuple(chats)

    def _webhooks(self, settings: _Fields) -> tuple[Webhook, ...]:
        """``settings.webhooks``: a list of ``{url, events}``; an https URL (http only to this machine,
        for trying it out), events among :data:`bot.survey.EVENTS` (``response.completed`` when left out)."""
        node = settings.list("webhooks")
        if node is None:
            return ()
        if len(node.items) > MAX_WEBHOOKS:
            settings.problem(node.line, f"at most {MAX_WEBHOOKS} webhooks, not {len(node.items)}")
            return ()
        hooks: list[Webhook] = []
        lines: dict[str, int] = {}
        for item in node.items:
            if not isinstance(item, _Map):
                settings.problem(item.line, f"a webhook must be a mapping with a url, not {_describe(item)}")
                continue
            fields = _Fields(self._report, item)
            fields.check_unknown(_WEBHOOK_FIELDS, " in a webhook")
            url = fields.string("url", required=True)
            events = self._webhook_events(fields)
            if url is None or events is None or not _webhook_url(fields, url, fields.line("url")):
                continue
            if url in lines:
                fields.problem(item.line, f"duplicate webhook url (first used at line {lines[url]})")
                continue
            lines[url] = item.line
            hooks.append(Webhook(url, events))
        return tuple(hooks)

    @staticmethod
    def _webhook_events(fields: _Fields) -> frozenset[str] | None:
        node = fields.list("events")
        if node is None:
            return None if fields.has("events") else frozenset({COMPLETED})
        events: set[str] = set()
        for item in node.items:
            value = item.value if isinstance(item, _Scalar) else None
            if value not in EVENTS:
                known = ", ".join(EVENTS)
                fields.problem(item.line, f"unknown webhook event {_describe(item)}; known: {known}")
                return None
            events.add(str(value))
        if not events:
            fields.problem(node.line, "'events' must name at least one event")
            return None
        return frozenset(events)

    @staticmethod
    def _duration(fields: _Fields, key: str) -> int | None:
        """Seconds from ``90s``, ``30m``, ``24h``, ``7d`` or a plain number of seconds."""
        node = fields.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, _Scalar) else None
        seconds: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
            seconds = int(match.group(1)) * _SECONDS[match.group(2)]
        if seconds is None:
            fields.problem(
                node.line, f"'{key}' must be a duration like 90s, 30m, 24h or 7d, not {_describe(node)}"
            )
            return None
        if seconds <= 0:
            fields.problem(node.line, f"'{key}' must be longer than zero")
            return None
        if seconds > MAX_SESSION_TTL:
            fields.problem(node.line, f"'{key}' must be at most 365d")
            return None
        return seconds

    # --- ids and references -------------------------------------------------------------------------

    def _index_ids(self, nodes: tuple[_Yaml, ...]) -> None:
        first_lines: dict[str, int] = {}
        for position, node in enumerate(nodes):
            found = _peek_id(node)
            if found is None:
                continue
            question_id, line = found
            if question_id in self._positions:
                self._report.add(
                    line,
                    f"duplicate question id '{question_id}' (first used at line {first_lines[question_id]})",
                    question_id,
                )
            else:
                self._positions[question_id] = position
                first_lines[question_id] = line

    def _name_problem(self, name: str, here: int, *, itself: bool = False) -> str | None:
        """What is wrong with naming question ``name`` from the question at position ``here``.

        Questions before ``here`` may be named, and the question itself too when ``itself`` is true.
        """
        position = self._positions.get(name)
        if position is None:
            return f"unknown question '{name}'"
        if position < here or (itself and position == here):
            return None
        allowed = "this question and earlier ones" if itself else "earlier questions"
        if position == here:
            return f"question '{name}', this question itself; only {allowed} can be used"
        return f"question '{name}', which comes later; only {allowed} can be used"

    def _check_template(
        self,
        fields: _Fields,
        key: str,
        template: str | None,
        allowed: Callable[[str], str | None],
    ) -> None:
        """Report malformed placeholders in ``template`` and those naming what ``allowed`` refuses."""
        if template is None:
            return
        where = fields.line(key)
        try:
            names = placeholders.names(template)
        except ValueError as error:
            fields.problem(where, f"{key}: {error}")
            return
        for name in dict.fromkeys(names):
            if name == placeholders.RESPONDENT_NAME:
                continue
            if problem := allowed(name):
                fields.problem(where, f"{key}: placeholder {{{name}}} names {problem}")

    def _expression(
        self, fields: _Fields, key: str, label: str, here: int, *, itself: bool
    ) -> Expression | None:
        source = fields.string(key)
        if source is None:
            return None
        line = fields.line(key)
        try:
            expression = parse(source)
        except ExpressionError as error:
            fields.problem(line, f"{label}: {error}")
            return None
        ok = True
        for name in sorted(expression.names):
            if problem := self._name_problem(name, here, itself=itself):
                fields.problem(line, f"{label} names {problem}")
                ok = False
        return expression if ok else None

    # --- questions ----------------------------------------------------------------------------------

    def _question(self, node: _Yaml, position: int) -> Question | None:
        if not isinstance(node, _Map):
            self._report.add(node.line, "a question must be a mapping with id, type and text")
            return None
        found = _peek_id(node)
        fields = _Fields(self._report, node, found[0] if found else None)
        problems_before = len(self._report.problems)

        question_id = fields.string("id", required=True)
        if question_id is not None:
            if problem := _id_problem(question_id, _ITEM_ID, "[a-z][a-z0-9_]*"):
                fields.problem(fields.line("id"), problem)
            elif question_id == END:
                fields.problem(
                    fields.line("id"), f"'{END}' cannot be a question id: it is the goto that ends"
                )
        question_type = self._type(fields)
        type_fields = _TYPE_FIELDS[question_type] if question_type else _ANY_TYPE_FIELDS
        fields.check_unknown(_COMMON_FIELDS | type_fields)
        text = fields.string("text", required=True)
        required = fields.boolean("required")
        reply = fields.string("reply")
        error = fields.string("error")

        def earlier(name: str) -> str | None:
            return self._name_problem(name, position)

        def answered(name: str) -> str | None:
            return self._name_problem(name, position, itself=True)

        self._check_template(fields, "text", text, earlier)
        self._check_template(fields, "reply", reply, answered)
        self._check_template(fields, "error", error, earlier)

        question = Question(
            id=question_id or "",
            type=question_type or QuestionType.TEXT,
            text=text or "",
            required=True if required is None else required,
            show_if=self._expression(fields, "show_if", "show_if", position, itself=False),
            next=self._rules(fields, position),
            reply=reply,
            error=error,
        )
        question = self._type_fields(fields, question, position) if question_type else question
        return question if len(self._report.problems) == problems_before else None

    @staticmethod
    def _type(fields: _Fields) -> QuestionType | None:
        name = fields.string("type", required=True)
        if name is None:
            return None
        try:
            return QuestionType(name)
        except ValueError:
            known = ", ".join(QuestionType)
            fields.problem(fields.line("type"), f"unknown type {name!r}; the types are {known}")
            return None

    def _rules(self, fields: _Fields, position: int) -> tuple[Rule, ...]:
        rules_node = fields.list("next")
        if rules_node is None:
            return ()
        rules: list[Rule] = []
        for number, node in enumerate(rules_node.items, start=1):
            label = f"next rule {number}"
            if not isinstance(node, _Map):
                fields.problem(node.line, f"{label} must be a mapping {{if: EXPR, goto: ID}}")
                continue
            rule = _Fields(self._report, node, fields.question)
            rule.check_unknown({"if", "goto"}, f" in {label}")
            if not rule.has("if") and number < len(rules_node.items):
                rule.problem(node.line, f"{label} has no 'if': only the last rule can be unconditional")
            condition = self._expression(rule, "if", label, position, itself=True)
            goto = rule.string("goto", required=True)
            if goto is not None and goto != END:
                target = self._positions.get(goto)
                if target is None:
                    rule.problem(rule.line("goto"), f"{label}: goto '{goto}': no such question")
                elif target <= position:
                    rule.problem(rule.line("goto"), f"{label}: goto '{goto}' must point to a later question")
            if goto is not None:
                rules.append(Rule(goto=goto, condition=condition))
        return tuple(rules)

    def _type_fields(self, fields: _Fields, question: Question, position: int) -> Question:
        match question.type:
            case QuestionType.TEXT:
                return self._text(fields, question)
            case QuestionType.NUMBER:
                return self._number(fields, question)
            case QuestionType.SINGLE_CHOICE:
                return replace(question, choices=self._choices(fields, position))
            case QuestionType.MULTI_CHOICE:
                return self._multi_choice(fields, question, position)
            case QuestionType.RATING:
                return self._rating(fields, question)
            case QuestionType.NPS:
                return replace(question, min_value=0.0, max_value=10.0)
            case QuestionType.DATE:
                return self._date(fields, question)
            case QuestionType.YES_NO | QuestionType.EMAIL:
                return question

    @staticmethod
    def _text(fields: _Fields, question: Question) -> Question:
        min_length = fields.integer("min_length", minimum=0, maximum=MAX_TEXT_LENGTH)
        max_length = fields.integer("max_length", minimum=0, maximum=MAX_TEXT_LENGTH)
        effective_max = question.max_length if max_length is None else max_length
        if min_length is not None and min_length > effective_max:
            default = "" if fields.has("max_length") else ", the default"
            fields.problem(
                fields.line("min_length"),
                f"min_length ({min_length}) is above max_length ({effective_max}{default})",
            )
        pattern = fields.string("pattern")
        if pattern is not None:
            refused = pattern_problem(pattern)
            if refused is not None:
                fields.problem(fields.line("pattern"), refused)
        return replace(question, min_length=min_length, max_length=effective_max, pattern=pattern)

    @staticmethod
    def _number(fields: _Fields, question: Question) -> Question:
        low = fields.number("min")
        high = fields.number("max")
        if low is not None and high is not None and low > high:
            fields.problem(fields.line("min"), f"min ({low:g}) is above max ({high:g})")
        integer = fields.boolean("integer")
        return replace(question, min_value=low, max_value=high, integer=bool(integer))

    @staticmethod
    def _date(fields: _Fields, question: Question) -> Question:
        low = fields.date("min")
        high = fields.date("max")
        if low is not None and high is not None and low > high:
            fields.problem(fields.line("min"), f"min ({low}) is after max ({high})")
        return replace(question, min_date=low, max_date=high)

    def _rating(self, fields: _Fields, question: Question) -> Question:
        low = fields.integer("min")
        high = fields.integer("max")
        low = 1 if low is None else low
        high = 5 if high is None else high
        if low >= high:
            fields.problem(fields.line("min"), f"min ({low}) must be below max ({high})")
        elif high - low >= MAX_RATING_VALUES:
            line = fields.line("max") if fields.has("max") else fields.line("min")
            fields.problem(line, f"a rating offers at most {MAX_RATING_VALUES} values, not {high - low + 1}")
            high = low + MAX_RATING_VALUES - 1
        labels: dict[int, str] = {}
        labels_node = fields.mapping("labels")
        if labels_node is not None and low < high:
            label_fields = _Fields(self._report, labels_node, fields.question)
            for key, entry in labels_node.entries.items():
                if not isinstance(key, int) or isinstance(key, bool) or not low <= key <= high:
                    label_fields.problem(
                        entry.key_line, f"labels: {key!r} is not a rating from {low} to {high}"
                    )
                    continue
                text = label_fields.string(key)
                if text is not None:
                    labels[key] = text
        return replace(question, min_value=float(low), max_value=float(high), labels=labels)

    def _multi_choice(self, fields: _Fields, question: Question, position: int) -> Question:
        choices = self._choices(fields, position)
        low = fields.integer("min_choices", minimum=1)
        high = fields.integer("max_choices", minimum=1)
        if low is not None and high is not None and low > high:
            fields.problem(fields.line("min_choices"), f"min_choices ({low}) is above max_choices ({high})")
        written = fields.get("choices")
        count = len(written.items) if isinstance(written, _List) else 0
        if count >= 2:
            for key, value in (("min_choices", low), ("max_choices", high)):
                if value is not None and value > count:
                    fields.problem(
                        fields.line(key), f"{key} ({value}) is above the number of choices ({count})"
                    )
        return replace(question, choices=choices, min_choices=1 if low is None else low, max_choices=high)

    def _choices(self, fields: _Fields, position: int) -> tuple[Choice, ...]:
        node = fields.list("choices", required=True)
        if node is None:
            return ()
        if len(node.items) < 2:
            fields.problem(fields.line("choices"), f"needs at least two choices, not {len(node.items)}")
        choices: list[Choice] = []
        lines: dict[str, int] = {}
        for item in node.items:
            choice = self._choice(fields, item, position)
            if choice is None:
                continue
            if choice.id in lines:
                fields.problem(
                    item.line, f"duplicate choice id '{choice.id}' (first used at line {lines[choice.id]})"
                )
                continue
            lines[choice.id] = item.line
            choices.append(choice)
        return tuple(choices)

    def _choice(self, fields: _Fields, node: _Yaml, position: int) -> Choice | None:
        if isinstance(node, _Scalar) and isinstance(node.value, str):
            if not node.value.strip():
                fields.problem(node.line, "a choice must not be empty")
                return None
            return Choice(id=choice_id(node.value), label=node.value)
        if not isinstance(node, _Map):
            fields.problem(
                node.line,
                f"a choice must be a label or a mapping {{id, label, reply}}, "
                f"not {_describe(node)}{_quote_hint(node)}",
            )
            return None
        choice = _Fields(self._report, node, fields.question)
        choice.check_unknown({"id", "label", "reply"}, " in a choice")
        identifier = choice.string("id", required=True)
        if identifier is not None and (problem := _id_problem(identifier, _ITEM_ID, "[a-z][a-z0-9_]*")):
            choice.problem(choice.line("id"), f"choice {problem}")
            identifier = None
        label = choice.string("label", required=True)
        reply = choice.string("reply")
        self._check_template(
            choice, "reply", reply, lambda name: self._name_problem(name, position, itself=True)
        )
        if identifier is None or label is None:
            return None
        return Choice(id=identifier, label=label, reply=reply)


# --- Entry points -----------------------------------------------------------------------------------


def load_text(text: str, file: str = "<survey>") -> Survey:
    """The survey in ``text``; ``file`` names it in problems.

    Raises :class:`~bot.errors.DefinitionError` listing every problem when the text breaks the format.
    """
    report = _Report(file)
    try:
        root = _read_yaml(text, report)
        survey = _SurveyReader(report).read(root) if root is not None else None
    except (RecursionError, OverflowError, ValueError, MemoryError) as error:
        # A backstop: the bounds above should refuse such files first, at their line.
        log.error("the loader failed on %s: %s", file, type(error).__name__)
        raise DefinitionError(
            [Problem(file, 1, f"the file cannot be read ({type(error).__name__})")]
        ) from None
    if survey is None or report.problems:
        raise DefinitionError(report.problems)
    assert isinstance(root, _Map)
    return replace(survey, source=text, file=file, content_hash=_content_hash(root))


MAX_SURVEY_BYTES = 1024 * 1024
"""The largest survey file taken, however it comes in (a file, a chat upload, the HTTP API)."""


def load_bytes(data: bytes, file: str) -> Survey:
    """The survey in an uploaded or read file's bytes (UTF-8, with or without a BOM).

    Raises :class:`~bot.errors.DefinitionError` when the bytes are too many, not UTF-8, or break the
    format.
    """
    if len(data) > MAX_SURVEY_BYTES:
        problem = Problem(
            file, 1, f"the file is larger than {MAX_SURVEY_BYTES // 1024} KB, too large for a survey"
        )
        raise DefinitionError([problem])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problem = Problem(file, line, f"the file is not UTF-8 text (byte {data[error.start]:#04x})")
        raise DefinitionError([problem]) from None
    return load_text(text, file)


def load_file(path: str | Path) -> Survey:
    """The survey in the file at ``path``, named as given in problems.

    Raises :class:`~bot.errors.DefinitionError` when the file is not UTF-8 or breaks the format, and
    :class:`OSError` when it cannot be read.
    """
    with Path(path).open("rb") as opened:
        data = opened.read(MAX_SURVEY_BYTES + 1)  # one byte more is enough to refuse it
    return load_bytes(data, str(path))
