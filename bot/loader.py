"""Load survey YAML files (format version 1) into :class:`~bot.survey.Survey` values.

A file is refused whole: every problem found is listed in one :class:`~bot.errors.DefinitionError`, each
located at the line of the field it is about. YAML is read with PyYAML's safe loader, except that only
``true``/``false`` are booleans: ``yes``, ``no``, ``on``, ``off`` stay the strings the author wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Hashable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from bot import placeholders
from bot.errors import DefinitionError, ExpressionError, Problem
from bot.expressions import Expression, parse
from bot.located import (
    Entry,
    Fields,
    Map,
    Node,
    Report,
    Scalar,
    Seq,
    describe,
    plain,
    quote_hint,
    read_yaml,
)
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
    TextPath,
    Webhook,
)

log = logging.getLogger("surveybot.loader")

MAX_VERSION = 1_000_000
MAX_TEXT_LENGTH = 10_000
"""The largest ``max_length`` of a text answer (the web chat takes 4,000 characters a message)."""
MAX_RATING_VALUES = 21
"""The most values a rating offers (0 to 20), each a button."""
MAX_SESSION_TTL = 365 * 86400
MAX_RESPONSES = 1_000_000_000


def _content_hash(root: Map) -> str:
    """SHA-256 of the canonical JSON of the document without its top-level ``version``."""
    document = {str(key): plain(entry.value) for key, entry in root.entries.items() if key != "version"}
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _webhook_url(fields: Fields, url: str, line: int) -> bool:
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


def read_chats(settings: Fields, key: str = "broadcast") -> tuple[Broadcast, ...]:
    """The chats listed under ``key`` (a survey's ``broadcast``, a campaign digest's ``chats``), each
    ``{telegram_chat: ID}`` or ``{slack_channel: ID}``."""
    node = settings.list(key)
    if node is None:
        return ()
    if len(node.items) > MAX_BROADCASTS:
        settings.problem(node.line, f"at most {MAX_BROADCASTS} broadcast chats, not {len(node.items)}")
        return ()
    chats: list[Broadcast] = []
    for item in node.items:
        entries = item.entries if isinstance(item, Map) else {}
        if len(entries) != 1 or next(iter(entries)) not in _BROADCAST_CHATS:
            settings.problem(item.line, "a chat is {telegram_chat: ID} or {slack_channel: ID}")
            continue
        ((name, entry),) = entries.items()
        platform, pattern, expected = _BROADCAST_CHATS[str(name)]
        value = entry.value.value if isinstance(entry.value, Scalar) else None
        chat = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if not pattern.fullmatch(chat):
            settings.problem(entry.value.line, f"'{name}' must be {expected}, not {describe(entry.value)}")
            continue
        broadcast = Broadcast(platform, chat)
        if broadcast in chats:
            settings.problem(item.line, f"the {platform} chat {chat} is named twice")
            continue
        chats.append(broadcast)
    return tuple(chats)


# --- The survey -------------------------------------------------------------------------------------

_SURVEY_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ITEM_ID = re.compile(r"[a-z][a-z0-9_]*")
"""Question and choice ids."""
_MAX_ID_LENGTH = 32

_TOP_FIELDS = frozenset(
    {"id", "title", "version", "languages", "settings", "welcome", "goodbye", "questions"}
)
_LANGUAGE = re.compile(r"[a-z]{2,3}")
"""A language code as a survey declares it: ISO 639 (``en``, ``de``, ``es``, ``fil``)."""
MAX_LANGUAGES = 20
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


def _peek_id(node: Node) -> tuple[str, int] | None:
    """The ``id`` string of a question mapping and its line, when it has one."""
    if isinstance(node, Map) and "id" in node.entries:
        value = node.entries["id"].value
        if isinstance(value, Scalar) and isinstance(value.value, str):
            return value.value, value.line
    return None


def _before_any_question(name: str) -> str:
    return (
        f"question '{name}', but the welcome comes before any question: only {{respondent.name}} can be used"
    )


class _SurveyReader:
    """Reads and checks one survey document; a survey comes out only when nothing was reported."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._positions: dict[str, int] = {}
        """Question id → index of its first question in the file."""
        self._languages: tuple[str, ...] = ()
        self._translations: dict[str, dict[TextPath, str]] = {}
        """Language (other than the first) → where a text is (:data:`bot.survey.TextPath`) → its text."""

    def read(self, root: Node) -> Survey | None:
        if not isinstance(root, Map):
            self._report.add(root.line, "a survey file must be a mapping with id, title and questions")
            return None
        top = Fields(self._report, root)
        top.check_unknown(_TOP_FIELDS)
        survey_id = top.string("id", required=True)
        if survey_id is not None and (problem := _id_problem(survey_id, _SURVEY_ID, "[a-z0-9][a-z0-9_-]*")):
            top.problem(top.line("id"), problem)
        self._languages = self._read_languages(top)
        title = self._written(top, "title", ("title",), required=True)
        version = top.integer("version", minimum=1, maximum=MAX_VERSION)
        settings = self._settings(top)
        welcome = self._written(top, "welcome", ("welcome",))
        goodbye = self._written(top, "goodbye", ("goodbye",))

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
        self._check_template(top, "welcome", welcome, _before_any_question, ("welcome",))
        goodbye_names = lambda name: self._name_problem(name, after_all)  # noqa: E731
        self._check_template(top, "goodbye", goodbye, goodbye_names, ("goodbye",))

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
            lines={str(key): top.line(str(key)) for key in root.entries},
            languages=self._languages,
            language=self._languages[0] if self._languages else None,
            translations={lang: dict(table) for lang, table in self._translations.items()},
        )

    # --- languages ------------------------------------------------------------------------------------

    def _read_languages(self, top: Fields) -> tuple[str, ...]:
        """``languages``: the codes a survey is written in, the first the default (an extension of the
        format: without it, a survey is in one language, which it does not name)."""
        node = top.list("languages")
        if node is None:
            return ()
        found: list[str] = []
        for item in node.items:
            value = item.value if isinstance(item, Scalar) else None
            if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
                top.problem(item.line, f"a language is a code like en, de or es, not {describe(item)}")
            elif value in found:
                top.problem(item.line, f"language '{value}' is named twice")
            else:
                found.append(value)
        if not node.items:
            top.problem(node.line, "'languages' must name at least one language")
        if len(found) > MAX_LANGUAGES:
            top.problem(node.line, f"at most {MAX_LANGUAGES} languages, not {len(found)}")
        return tuple(found)

    def _written(
        self, fields: Fields, key: Hashable, path: TextPath, *, required: bool = False
    ) -> str | None:
        """A text the respondent reads: a string, or in a survey of several languages a mapping with
        one string per language (``{en: …, de: …}``). Returns the first language's text and keeps the
        others under ``path``; a missing or unknown language is a problem at the mapping's line."""
        found = self._texts(fields, key, required=required)
        if found is None:
            return None
        self._keep(path, found)
        return found[0]

    def _keep(self, path: TextPath, texts: tuple[str, ...]) -> None:
        for code, text in zip(self._languages[1:], texts[1:], strict=True):
            self._translations.setdefault(code, {})[path] = text

    def _texts(self, fields: Fields, key: Hashable, *, required: bool = False) -> tuple[str, ...] | None:
        """The text under ``key`` in each language of the survey, in their order (one, when it
        declares none or one)."""
        node = fields.get(key, required=required)
        if node is None:
            return None
        many = len(self._languages) > 1
        if not isinstance(node, Map):
            if many:
                codes = ", ".join(self._languages)
                example = ", ".join(f"{code}: …" for code in self._languages)
                fields.problem(
                    node.line,
                    f"'{key}' must be given in each language of the survey ({codes}): {{{example}}}",
                )
                return None
            text = fields.string(key, required=required)
            return None if text is None else (text,) * max(1, len(self._languages))
        if not self._languages:
            fields.problem(
                node.line, f"'{key}' is given per language, but the survey declares no 'languages'"
            )
            return None
        texts = Fields(self._report, node, fields.question)
        texts.check_unknown(self._languages, f" in '{key}': not a language of the survey")
        missing = [code for code in self._languages if code not in node.entries]
        if missing:
            fields.problem(node.line, f"'{key}' has no {', '.join(missing)} translation")
        found = {code: texts.string(code, required=False) for code in self._languages if code in node.entries}
        if missing or any(text is None for text in found.values()):
            return None
        return tuple(str(found[code]) for code in self._languages)

    def _translated(self, path: TextPath) -> list[tuple[str, str]]:
        """The other languages' texts kept under ``path``: (language, text)."""
        return [(code, table[path]) for code, table in self._translations.items() if path in table]

    def _settings(self, top: Fields) -> Settings:
        node = top.mapping("settings")
        if node is None:
            return Settings()
        fields = Fields(self._report, node)
        fields.check_unknown(_SETTINGS_FIELDS, " in settings")
        defaults = Settings()
        one_response = fields.boolean("one_response_per_user")
        allow_back = fields.boolean("allow_back")
        anonymous = fields.boolean("anonymous")
        session_ttl = fields.duration("session_ttl", MAX_SESSION_TTL, "365d")
        max_responses = fields.integer("max_responses", minimum=1, maximum=MAX_RESPONSES)
        webhooks = self._webhooks(fields)
        broadcasts = read_chats(fields)
        return Settings(
            one_response_per_user=defaults.one_response_per_user if one_response is None else one_response,
            allow_back=defaults.allow_back if allow_back is None else allow_back,
            anonymous=defaults.anonymous if anonymous is None else anonymous,
            session_ttl=defaults.session_ttl if session_ttl is None else session_ttl,
            max_responses=max_responses,
            webhooks=webhooks,
            broadcasts=broadcasts,
        )

    def _webhooks(self, settings: Fields) -> tuple[Webhook, ...]:
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
            if not isinstance(item, Map):
                settings.problem(item.line, f"a webhook must be a mapping with a url, not {describe(item)}")
                continue
            fields = Fields(self._report, item)
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
    def _webhook_events(fields: Fields) -> frozenset[str] | None:
        node = fields.list("events")
        if node is None:
            return None if fields.has("events") else frozenset({COMPLETED})
        events: set[str] = set()
        for item in node.items:
            value = item.value if isinstance(item, Scalar) else None
            if value not in EVENTS:
                known = ", ".join(EVENTS)
                fields.problem(item.line, f"unknown webhook event {describe(item)}; known: {known}")
                return None
            events.add(str(value))
        if not events:
            fields.problem(node.line, "'events' must name at least one event")
            return None
        return frozenset(events)

    # --- ids and references -------------------------------------------------------------------------

    def _index_ids(self, nodes: tuple[Node, ...]) -> None:
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
        fields: Fields,
        key: str,
        template: str | None,
        allowed: Callable[[str], str | None],
        path: TextPath | None = None,
    ) -> None:
        """Report malformed placeholders in ``template`` (and its translations kept under ``path``) and
        those naming what ``allowed`` refuses."""
        if template is None:
            return
        where = fields.line(key)
        others = self._translated(path) if path is not None else []
        for code, text in [("", template), *others]:
            label = f"{key} ({code})" if code else key
            try:
                names = placeholders.names(text)
            except ValueError as error:
                fields.problem(where, f"{label}: {error}")
                continue
            for name in dict.fromkeys(names):
                if name == placeholders.RESPONDENT_NAME:
                    continue
                if problem := allowed(name):
                    fields.problem(where, f"{label}: placeholder {{{name}}} names {problem}")

    def _expression(
        self, fields: Fields, key: str, label: str, here: int, *, itself: bool
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

    def _question(self, node: Node, position: int) -> Question | None:
        if not isinstance(node, Map):
            self._report.add(node.line, "a question must be a mapping with id, type and text")
            return None
        found = _peek_id(node)
        fields = Fields(self._report, node, found[0] if found else None)
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
        qid = question_id or ""
        text = self._written(fields, "text", ("question", qid, "text"), required=True)
        required = fields.boolean("required")
        reply = self._written(fields, "reply", ("question", qid, "reply"))
        error = self._written(fields, "error", ("question", qid, "error"))

        def earlier(name: str) -> str | None:
            return self._name_problem(name, position)

        def answered(name: str) -> str | None:
            return self._name_problem(name, position, itself=True)

        self._check_template(fields, "text", text, earlier, ("question", qid, "text"))
        self._check_template(fields, "reply", reply, answered, ("question", qid, "reply"))
        self._check_template(fields, "error", error, earlier, ("question", qid, "error"))

        question = Question(
            id=question_id or "",
            type=question_type or QuestionType.TEXT,
            text=text or "",
            required=True if required is None else required,
            show_if=self._expression(fields, "show_if", "show_if", position, itself=False),
            next=self._rules(fields, position),
            reply=reply,
            error=error,
            lines={"question": node.line} | {str(key): fields.line(str(key)) for key in node.entries},
        )
        question = self._type_fields(fields, question, position) if question_type else question
        return question if len(self._report.problems) == problems_before else None

    @staticmethod
    def _type(fields: Fields) -> QuestionType | None:
        name = fields.string("type", required=True)
        if name is None:
            return None
        try:
            return QuestionType(name)
        except ValueError:
            known = ", ".join(QuestionType)
            fields.problem(fields.line("type"), f"unknown type {name!r}; the types are {known}")
            return None

    def _rules(self, fields: Fields, position: int) -> tuple[Rule, ...]:
        rules_node = fields.list("next")
        if rules_node is None:
            return ()
        rules: list[Rule] = []
        for number, node in enumerate(rules_node.items, start=1):
            label = f"next rule {number}"
            if not isinstance(node, Map):
                fields.problem(node.line, f"{label} must be a mapping {{if: EXPR, goto: ID}}")
                continue
            rule = Fields(self._report, node, fields.question)
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
                line = rule.line("if") if rule.has("if") else node.line
                rules.append(Rule(goto=goto, condition=condition, line=line))
        return tuple(rules)

    def _type_fields(self, fields: Fields, question: Question, position: int) -> Question:
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
    def _text(fields: Fields, question: Question) -> Question:
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
    def _number(fields: Fields, question: Question) -> Question:
        low = fields.number("min")
        high = fields.number("max")
        if low is not None and high is not None and low > high:
            fields.problem(fields.line("min"), f"min ({low:g}) is above max ({high:g})")
        integer = fields.boolean("integer")
        return replace(question, min_value=low, max_value=high, integer=bool(integer))

    @staticmethod
    def _date(fields: Fields, question: Question) -> Question:
        low = fields.date("min")
        high = fields.date("max")
        if low is not None and high is not None and low > high:
            fields.problem(fields.line("min"), f"min ({low}) is after max ({high})")
        return replace(question, min_date=low, max_date=high)

    def _rating(self, fields: Fields, question: Question) -> Question:
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
            label_fields = Fields(self._report, labels_node, fields.question)
            for key, entry in labels_node.entries.items():
                if not isinstance(key, int) or isinstance(key, bool) or not low <= key <= high:
                    label_fields.problem(
                        entry.key_line, f"labels: {key!r} is not a rating from {low} to {high}"
                    )
                    continue
                text = self._written(label_fields, key, ("rating", fields.question or "", str(key)))
                if text is not None:
                    labels[key] = text
        return replace(question, min_value=float(low), max_value=float(high), labels=labels)

    def _multi_choice(self, fields: Fields, question: Question, position: int) -> Question:
        choices = self._choices(fields, position)
        low = fields.integer("min_choices", minimum=1)
        high = fields.integer("max_choices", minimum=1)
        if low is not None and high is not None and low > high:
            fields.problem(fields.line("min_choices"), f"min_choices ({low}) is above max_choices ({high})")
        written = fields.get("choices")
        count = len(written.items) if isinstance(written, Seq) else 0
        if count >= 2:
            for key, value in (("min_choices", low), ("max_choices", high)):
                if value is not None and value > count:
                    fields.problem(
                        fields.line(key), f"{key} ({value}) is above the number of choices ({count})"
                    )
        return replace(question, choices=choices, min_choices=1 if low is None else low, max_choices=high)

    def _choices(self, fields: Fields, position: int) -> tuple[Choice, ...]:
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

    def _choice(self, fields: Fields, node: Node, position: int) -> Choice | None:
        qid = fields.question or ""
        if isinstance(node, Scalar) and isinstance(node.value, str):
            if not node.value.strip():
                fields.problem(node.line, "a choice must not be empty")
                return None
            if len(self._languages) > 1:
                codes = ", ".join(self._languages)
                fields.problem(
                    node.line, f"a choice must be labelled in each language of the survey ({codes})"
                )
                return None
            return Choice(id=choice_id(node.value), label=node.value, line=node.line)
        if isinstance(node, Map) and self._languages and set(map(str, node.entries)) <= set(self._languages):
            # The short form of a choice in several languages: {en: Dark chocolate, de: Zartbitter}.
            holder = Map({"label": Entry(node.line, node)}, node.line)
            labels = self._texts(Fields(self._report, holder, fields.question), "label")
            if labels is None or not labels[0].strip():
                return None
            derived = choice_id(labels[0])
            self._keep(("choice", qid, derived, "label"), labels)
            return Choice(id=derived, label=labels[0], line=node.line)
        if not isinstance(node, Map):
            fields.problem(
                node.line,
                f"a choice must be a label or a mapping {{id, label, reply}}, "
                f"not {describe(node)}{quote_hint(node)}",
            )
            return None
        choice = Fields(self._report, node, fields.question)
        choice.check_unknown({"id", "label", "reply"}, " in a choice")
        identifier = choice.string("id", required=True)
        if identifier is not None and (problem := _id_problem(identifier, _ITEM_ID, "[a-z][a-z0-9_]*")):
            choice.problem(choice.line("id"), f"choice {problem}")
            identifier = None
        cid = identifier or ""
        label = self._written(choice, "label", ("choice", qid, cid, "label"), required=True)
        reply = self._written(choice, "reply", ("choice", qid, cid, "reply"))
        self._check_template(
            choice,
            "reply",
            reply,
            lambda name: self._name_problem(name, position, itself=True),
            ("choice", qid, cid, "reply"),
        )
        if identifier is None or label is None:
            return None
        return Choice(id=identifier, label=label, reply=reply, line=node.line)


# --- Entry points -----------------------------------------------------------------------------------


def load_text(text: str, file: str = "<survey>") -> Survey:
    """The survey in ``text``; ``file`` names it in problems.

    Raises :class:`~bot.errors.DefinitionError` listing every problem when the text breaks the format.
    """
    report = Report(file)
    try:
        root = read_yaml(text, report)
        survey = _SurveyReader(report).read(root) if root is not None else None
    except (RecursionError, OverflowError, ValueError, MemoryError) as error:
        # A backstop: the bounds above should refuse such files first, at their line.
        log.error("the loader failed on %s: %s", file, type(error).__name__)
        raise DefinitionError(
            [Problem(file, 1, f"the file cannot be read ({type(error).__name__})")]
        ) from None
    if survey is None or report.problems:
        raise DefinitionError(report.problems)
    assert isinstance(root, Map)
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
