"""YAML read with the line of every value, and the fields of a mapping read as the type they must have,
each problem reported at its line: what every file an admin writes (surveys, campaigns) is read with.

Only ``true``/``false`` are booleans: ``yes``, ``no``, ``on``, ``off`` stay the strings the author wrote.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field

import yaml
from yaml.reader import ReaderError

from bot.errors import Problem
from bot.expressions import MAX_DEPTH

_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

MAX_NUMBER = 10**15
"""The largest magnitude of a number in a file (bounds of answers, lengths, counts): beyond it floats
lose whole numbers, and nothing a survey or campaign asks for needs more."""

_BOOL_TAG = "tag:yaml.org,2002:bool"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose only booleans are ``true`` and ``false`` (any case)."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|false)$", re.IGNORECASE), list("tTfF"))


UNREADABLE = object()
"""The value of a scalar that could not be read; a problem has been reported for it already."""


@dataclass(frozen=True)
class Scalar:
    value: object
    """What the safe constructor made of it: str, int, float, bool, None, date, datetime or bytes."""
    line: int


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]
    line: int


@dataclass(frozen=True)
class Entry:
    key_line: int
    value: Node


@dataclass(frozen=True)
class Map:
    entries: dict[Hashable, Entry]
    line: int
    duplicates: tuple[tuple[Hashable, int], ...] = ()
    """Keys written more than once, with the line of each repetition (the first one is kept)."""


Node = Scalar | Seq | Map


@dataclass
class Report:
    """The problems found so far in one file."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, line: int, message: str, question: str | None = None) -> None:
        self.problems.append(Problem(self.file, line, message, question))


def yaml_error_problem(error: yaml.YAMLError, text: str) -> tuple[int, str]:
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

    def __init__(self, loader: YamlLoader, report: Report) -> None:
        self._loader = loader
        self._report = report
        self._done: dict[int, Node] = {}
        self._open: set[int] = set()

    def convert(self, node: yaml.Node) -> Node:
        key = id(node)
        if key in self._done:  # an alias: the same node again
            return self._done[key]
        line = node.start_mark.line + 1
        if key in self._open:
            self._report.add(line, "invalid YAML: an alias refers to a node that contains it")
            return Scalar(UNREADABLE, line)
        self._open.add(key)
        try:
            converted = self._convert(node, line)
        finally:
            self._open.discard(key)
        self._done[key] = converted
        return converted

    def _convert(self, node: yaml.Node, line: int) -> Node:
        if isinstance(node, yaml.ScalarNode):
            try:
                return Scalar(self._loader.construct_object(node, deep=True), line)
            except (yaml.YAMLError, ValueError) as error:
                problem = error.problem if isinstance(error, yaml.MarkedYAMLError) else str(error)
                self._report.add(line, f"invalid YAML value {short(node.value)}: {problem}")
                return Scalar(UNREADABLE, line)
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            self._report.add(line, f"invalid YAML: the tag {node.tag!r} is not supported")
            return Scalar(UNREADABLE, line)
        if isinstance(node, yaml.SequenceNode):
            return Seq(tuple(self.convert(item) for item in node.value), line)
        assert isinstance(node, yaml.MappingNode)
        return self._mapping(node, line)

    def _mapping(self, node: yaml.MappingNode, line: int) -> Map:
        entries: dict[Hashable, Entry] = {}
        merged: dict[Hashable, Entry] = {}
        duplicates: list[tuple[Hashable, int]] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                for source in self._merge_sources(value_node):
                    for merged_key, entry in source.entries.items():
                        merged.setdefault(merged_key, entry)
                continue
            key = self.convert(key_node)
            if isinstance(key, Scalar) and key.value is UNREADABLE:
                continue
            if not isinstance(key, Scalar) or not isinstance(key.value, Hashable):
                self._report.add(key_line, "invalid YAML: a mapping key must be a plain value")
                continue
            if key.value in entries:
                duplicates.append((key.value, key_line))
                continue
            entries[key.value] = Entry(key_line, self.convert(value_node))
        return Map({**merged, **entries}, line, tuple(duplicates))

    def _merge_sources(self, node: yaml.Node) -> list[Map]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        maps = [self.convert(source) for source in sources]
        if not all(isinstance(source, Map) for source in maps):
            self._report.add(node.start_mark.line + 1, "invalid YAML: '<<' must merge mappings")
        return [source for source in maps if isinstance(source, Map)]


def short(value: object) -> str:
    """A number for a problem line: a 5,000-digit literal is not quoted whole (nor converted, which
    would raise past Python's 4,300-digit limit)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 200:
        return "a number of over 60 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def too_deep(text: str) -> tuple[int, str] | None:
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


def read_yaml(text: str, report: Report) -> Node | None:
    """The single document in ``text`` as located values; None (with a problem) when there is none."""
    deep = too_deep(text)
    if deep is not None:
        report.add(*deep)
        return None
    try:
        loader = YamlLoader(text)
    except yaml.YAMLError as error:  # a character YAML does not allow
        report.add(*yaml_error_problem(error, text))
        return None
    try:
        root = loader.get_single_node()
        if root is None:
            report.add(1, "the file is empty")
            return None
        return _Converter(loader, report).convert(root)
    except yaml.YAMLError as error:
        report.add(*yaml_error_problem(error, text))
        return None
    finally:
        loader.dispose()


def plain(node: Node) -> object:
    """The value as loaded, JSON-ready: dates as ISO strings, keys as strings."""
    if isinstance(node, Seq):
        return [plain(item) for item in node.items]
    if isinstance(node, Map):
        return {str(key): plain(entry.value) for key, entry in node.entries.items()}
    if isinstance(node.value, dt.date):  # also datetime
        return node.value.isoformat()
    return node.value


# --- Reading fields ---------------------------------------------------------------------------------


def describe(node: Node) -> str:
    if isinstance(node, Seq):
        return "a list"
    if isinstance(node, Map):
        return "a mapping"
    value = node.value
    if value is UNREADABLE:
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


def quote_hint(node: Node) -> str:
    return "; put it in quotes" if isinstance(node, Scalar) and node.value is not None else ""


class Fields:
    """The fields of one YAML mapping, each read as the type it must have or reported as a problem."""

    def __init__(self, report: Report, node: Map, question: str | None = None) -> None:
        self._report = report
        self._node = node
        self.question = question
        for key, line in node.duplicates:
            self.problem(line, f"duplicate field '{key}'")

    def within(self, node: Map) -> Fields:
        """The fields of a mapping nested in this one, reported to the same file."""
        return Fields(self._report, node, self.question)

    def problem(self, line: int, message: str) -> None:
        self._report.add(line, message, self.question)

    def has(self, key: str) -> bool:
        return key in self._node.entries

    def line(self, key: str) -> int:
        """The line of ``key``, or of the mapping when it is absent."""
        entry = self._node.entries.get(key)
        return entry.key_line if entry is not None else self._node.line

    def get(self, key: Hashable, *, required: bool = False) -> Node | None:
        entry = self._node.entries.get(key)
        if entry is None:
            if required:
                self.problem(self._node.line, f"missing required field '{key}'")
            return None
        if isinstance(entry.value, Scalar) and entry.value.value is UNREADABLE:
            return None
        return entry.value

    def _wrong(self, key: Hashable, node: Node, expected: str, hint: str = "") -> None:
        self.problem(node.line, f"'{key}' must be {expected}, not {describe(node)}{hint}")

    def string(self, key: Hashable, *, required: bool = False) -> str | None:
        node = self.get(key, required=required)
        if node is None:
            return None
        if not isinstance(node, Scalar) or not isinstance(node.value, str):
            self._wrong(key, node, "text", quote_hint(node))
            return None
        if not node.value.strip():
            self.problem(node.line, f"'{key}' must not be empty")
            return None
        return node.value

    def boolean(self, key: str) -> bool | None:
        node = self.get(key)
        if node is None:
            return None
        if not isinstance(node, Scalar) or not isinstance(node.value, bool):
            self._wrong(key, node, "true or false")
            return None
        return node.value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int = MAX_NUMBER) -> int | None:
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, Scalar) else None
        if not isinstance(value, int) or isinstance(value, bool):
            self._wrong(key, node, "a whole number")
            return None
        if minimum is not None and value < minimum:
            self.problem(node.line, f"'{key}' must be at least {minimum}, not {short(value)}")
            return None
        if value > maximum or (minimum is None and value < -maximum):
            bounds = f"at most {maximum}" if minimum is not None else f"between {-maximum} and {maximum}"
            self.problem(node.line, f"'{key}' must be {bounds}, not {short(value)}")
            return None
        return value

    def number(self, key: str) -> float | None:
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, Scalar) else None
        unfit = isinstance(value, float) and not math.isfinite(value)
        if not isinstance(value, int | float) or isinstance(value, bool) or unfit:
            self._wrong(key, node, "a number")
            return None
        if not -MAX_NUMBER <= value <= MAX_NUMBER:
            self.problem(
                node.line, f"'{key}' must be between {-MAX_NUMBER} and {MAX_NUMBER}, not {short(value)}"
            )
            return None
        return float(value)

    def date(self, key: str) -> str | None:
        """An ISO date ``YYYY-MM-DD``, written bare (a YAML date) or quoted."""
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, Scalar) else None
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

    def list(self, key: str, *, required: bool = False) -> Seq | None:
        node = self.get(key, required=required)
        if node is not None and not isinstance(node, Seq):
            self._wrong(key, node, "a list")
            return None
        return node

    def mapping(self, key: str, *, required: bool = False) -> Map | None:
        node = self.get(key, required=required)
        if node is not None and not isinstance(node, Map):
            self._wrong(key, node, "a mapping")
            return None
        return node

    def duration(self, key: str, maximum: int, maximum_text: str) -> int | None:
        """Seconds from ``90s``, ``30m``, ``24h``, ``7d`` or a plain number of seconds, above zero and at
        most ``maximum`` (``maximum_text`` as the problem says it)."""
        node = self.get(key)
        if node is None:
            return None
        value = node.value if isinstance(node, Scalar) else None
        seconds: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
            seconds = int(match.group(1)) * _SECONDS[match.group(2)]
        if seconds is None:
            self.problem(
                node.line, f"'{key}' must be a duration like 90s, 30m, 24h or 7d, not {describe(node)}"
            )
            return None
        if seconds <= 0:
            self.problem(node.line, f"'{key}' must be longer than zero")
            return None
        if seconds > maximum:
            self.problem(node.line, f"'{key}' must be at most {maximum_text}")
            return None
        return seconds

    def check_unknown(self, allowed: Collection[str], where: str = "") -> None:
        for key, entry in self._node.entries.items():
            if key not in allowed:
                self.problem(entry.key_line, f"unknown field '{key}'{where}")
