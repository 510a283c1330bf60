"""The safe expression language of ``show_if`` and ``next`` rules (see the format page, "Expressions").

Expressions are parsed with a Lark LALR grammar and compiled into nested closures; nothing is ever
handed to Python's ``eval``. Evaluation never raises: a comparison that makes no sense is simply false.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from bot.errors import ExpressionError

_GRAMMAR = r"""
?start: or_test
?or_test: and_test ("or" and_test)*
?and_test: not_test ("and" not_test)*
?not_test: "not" not_test -> negation
         | comparison
?comparison: atom (comp_op atom)?
!comp_op: "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in"
?atom: literal
     | NAME -> name
     | "(" or_test ")"
?literal: NUMBER -> number
        | STRING -> string
        | "true" -> true
        | "false" -> false
        | "null" -> null
        | "[" (literal ("," literal)* ","?)? "]" -> array

NAME: /[a-z_][a-z0-9_]*/
NUMBER: /-?[0-9]+(\.[0-9]+)?/
STRING: /'(\\.|[^'\\])*'/ | /"(\\.|[^"\\])*"/
%ignore /[ \t\r\n]+/
"""

Values = Mapping[str, object]
_Node = Callable[[Values], object]


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="basic")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _contains(item: object, container: object) -> bool:
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    return False


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[object, object], bool]:
    def ordered(a: object, b: object) -> bool:
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return compare(a, b)
        return False

    return ordered


_COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
    "in": _contains,
    "not in": lambda a, b: b is not None and not _contains(a, b),
}


def _constant(value: object) -> _Node:
    return lambda values: value


class _Compiler(Transformer[Token, _Node]):
    """Turns the parse tree into a closure taking the answers mapping."""

    def or_test(self, operands: list[_Node]) -> _Node:
        return lambda values: any(operand(values) for operand in operands)

    def and_test(self, operands: list[_Node]) -> _Node:
        return lambda values: all(operand(values) for operand in operands)

    def negation(self, children: list[_Node]) -> _Node:
        (operand,) = children
        return lambda values: not operand(values)

    def comparison(self, children: list[Any]) -> _Node:
        left: _Node = children[0]
        right: _Node = children[2]
        compare = _COMPARISONS[children[1]]
        return lambda values: compare(left(values), right(values))

    def comp_op(self, tokens: list[Token]) -> str:
        return " ".join(tokens)

    def name(self, tokens: list[Token]) -> _Node:
        key = str(tokens[0])
        return lambda values: values.get(key)

    def number(self, tokens: list[Token]) -> _Node:
        text = str(tokens[0])
        return _constant(float(text) if "." in text else int(text))

    def string(self, tokens: list[Token]) -> _Node:
        return _constant(re.sub(r"\\(.)", r"\1", tokens[0][1:-1], flags=re.DOTALL))

    def true(self, _: list[Token]) -> _Node:
        return _constant(True)

    def false(self, _: list[Token]) -> _Node:
        return _constant(False)

    def null(self, _: list[Token]) -> _Node:
        return _constant(None)

    def array(self, items: list[_Node]) -> _Node:
        return lambda values: [item(values) for item in items]


@dataclass(frozen=True)
class Name:
    """A question id in a :class:`Comparison`."""

    id: str


@dataclass(frozen=True)
class Literal:
    """A literal value in a :class:`Comparison` (a list for ``[...]``)."""

    value: object


Operand = Name | Literal


@dataclass(frozen=True)
class Comparison:
    """One test an expression is made of, for ``surveybot check``: ``left op right``, or a bare operand
    tested for truth (``op`` and ``right`` None: ``not wants_feedback``)."""

    left: Operand
    op: str | None = None
    right: Operand | None = None

    def names(self) -> frozenset[str]:
        return frozenset(o.id for o in (self.left, self.right) if isinstance(o, Name))

    def holds(self, values: Values) -> bool:
        """The comparison's outcome, given the answers, as the expression would see it."""

        def value(operand: Operand) -> object:
            return values.get(operand.id) if isinstance(operand, Name) else operand.value

        if self.op is None or self.right is None:
            return bool(value(self.left))
        return _COMPARISONS[self.op](value(self.left), value(self.right))


@dataclass(frozen=True)
class Expression:
    """A parsed expression: ``names`` are the question ids it refers to."""

    source: str
    names: frozenset[str]
    _node: _Node = field(repr=False, compare=False)

    @functools.cached_property
    def comparisons(self) -> tuple[Comparison, ...]:
        """The comparisons and bare operands the expression tests, in order (``and``, ``or`` and ``not``
        taken away): what decides its outcome, for ``surveybot check``."""
        found: list[Comparison] = []

        def operand(tree: Tree[Token]) -> Operand:
            if tree.data == "name":
                return Name(str(tree.children[0]))
            return Literal(_Compiler().transform(tree)({}))

        def walk(tree: Tree[Token]) -> None:
            if tree.data in ("or_test", "and_test", "negation"):
                for child in tree.children:
                    if isinstance(child, Tree):
                        walk(child)
            elif tree.data == "comparison":
                left, op, right = tree.children
                assert isinstance(left, Tree) and isinstance(op, Tree) and isinstance(right, Tree)
                found.append(Comparison(operand(left), " ".join(map(str, op.children)), operand(right)))
            else:
                found.append(Comparison(operand(tree)))

        walk(_parser().parse(self.source))
        return tuple(found)

    def evaluate(self, values: Values) -> object:
        """The expression's value, given the stored answers; a missing name stands for None."""
        return self._node(values)

    def test(self, values: Values) -> bool:
        """Whether the expression holds: the truthiness of :meth:`evaluate` (None and [] are false)."""
        return bool(self.evaluate(values))


def _describe(source: str, error: UnexpectedInput) -> str:
    if isinstance(error, UnexpectedCharacters):
        return f"unexpected character {error.char!r} at column {error.column}"
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        return f"unexpected {str(error.token)!r} at column {error.column}"
    return f"unexpected end at column {len(source.rstrip()) + 1}"


def parse(source: str) -> Expression:
    """Parse ``source`` into an :class:`Expression`; raise :class:`ExpressionError` saying what and where."""
    if not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_LENGTH} characters")
    try:
        _check_bounds(source)
        tree = _parser().parse(source)
    except UnexpectedInput as error:
        shown = source if len(source) <= 80 else source[:77] + "…"
        raise ExpressionError(f"expression {shown!r} does not parse: {_describe(source, error)}") from None
    names = frozenset(
        str(token) for token in tree.scan_values(lambda v: isinstance(v, Token) and v.type == "NAME")
    )
    try:
        return Expression(source, names, _Compiler().transform(tree))
    except (RecursionError, VisitError) as error:  # a backstop: the bounds above should prevent it
        raise ExpressionError(f"expression cannot be compiled: {type(error).__name__}") from None


MAX_LENGTH = 1000
MAX_DEPTH = 64
"""The deepest nesting of parentheses, brackets and ``not``s in an expression, and of YAML lists and
mappings in a survey file (the loader's bound)."""
MAX_DIGITS = 30


def _check_bounds(source: str) -> None:
    """Refuse, before parsing, what would make the parser or compiler recurse too deep or convert a
    5,000-digit number: nesting beyond :data:`MAX_DEPTH`, numbers beyond :data:`MAX_DIGITS` digits."""
    depth = nots = 0
    for token in _parser().lex(source):
        if token.type in ("LPAR", "LSQB"):
            depth += 1
            nots = 0
        elif token.type in ("RPAR", "RSQB"):
            depth -= 1
        elif token.type == "NOT":
            nots += 1
        else:
            nots = 0
        if depth + nots > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels at column {token.column}")
        if token.type == "NUMBER" and sum(c.isdigit() for c in token) > MAX_DIGITS:
            raise ExpressionError(
                f"expression has a number of more than {MAX_DIGITS} digits at column {token.column}"
            )
