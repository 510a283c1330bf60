"""The show_if/next expression language: parsing, names, evaluation semantics, errors."""

from __future__ import annotations

import pytest

from bot import expressions
from bot.errors import ExpressionError
from bot.expressions import Expression, parse


def ev(source: str, **values: object) -> object:
    return parse(source).evaluate(values)


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # The examples of the format page.
        ("satisfaction <= 2", {"satisfaction": 2}, True),
        ("satisfaction <= 2", {"satisfaction": 3}, False),
        ("flavour == 'chocolate'", {"flavour": "chocolate"}, True),
        ("flavour == 'chocolate'", {"flavour": "vanilla"}, False),
        ("'api' in features", {"features": ["ui", "api"]}, True),
        ("'api' in features", {"features": ["ui"]}, False),
        ("not wants_feedback", {"wants_feedback": False}, True),
        ("not wants_feedback", {"wants_feedback": True}, False),
        ("age >= 18 and country in ['de', 'fr']", {"age": 18, "country": "fr"}, True),
        ("age >= 18 and country in ['de', 'fr']", {"age": 17, "country": "fr"}, False),
        ("age >= 18 and country in ['de', 'fr']", {"age": 30, "country": "us"}, False),
        ("(a or b) and not c", {"a": True}, True),
        ("(a or b) and not c", {"b": True, "c": True}, False),
        ("(a or b) and not c", {}, False),
        ("x != null", {"x": 0}, True),
        ("x != null", {}, False),
    ],
)
def test_examples(source: str, values: dict[str, object], expected: bool) -> None:
    assert parse(source).test(values) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2 == 2", True),
        ("2 == 3", False),
        ("2 == 2.0", True),
        ("2 != 2.0", False),
        ("2 != 3", True),
        ("'a' == \"a\"", True),
        ("'a' != 'b'", True),
        ("1 < 2", True),
        ("2 < 2", False),
        ("2 <= 2", True),
        ("3 <= 2", False),
        ("3 > 2", True),
        ("2 > 2", False),
        ("2 >= 2", True),
        ("1 >= 2", False),
        ("-3 < 0", True),
        ("2.5 > 2", True),
        ("'apple' < 'banana'", True),
        ("'b' >= 'a'", True),
        ("1 in [1, 2]", True),
        ("3 in [1, 2]", False),
        ("3 not in [1, 2]", True),
        ("1 not in [1, 2]", False),
        ("'pi' in 'api'", True),
        ("'x' in 'api'", False),
        ("'x' not in 'api'", True),
        ("[] == []", True),
        ("['a', 1] == ['a', 1]", True),
        ("true == true", True),
        ("true != false", True),
        ("null == null", True),
    ],
)
def test_operators_on_literals(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", 42),
        ("-3", -3),
        ("2.5", 2.5),
        ("-0.5", -0.5),
        ("'single'", "single"),
        ('"double"', "double"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("''", ""),
        ("'not and or in'", "not and or in"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("['de', 'fr']", ["de", "fr"]),
        ("[1, 2.5, 'x', true, null]", [1, 2.5, "x", True, None]),
        ("[]", []),
        ("['a',]", ["a"]),
        ("[[1], []]", [[1], []]),
    ],
)
def test_literals(source: str, expected: object) -> None:
    value = ev(source)
    assert value == expected
    assert type(value) is type(expected)


def test_int_and_float_literals_keep_their_type() -> None:
    assert isinstance(ev("2"), int)
    assert isinstance(ev("2.0"), float)


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # not binds looser than comparisons: not (a == 1)
        ("not a == 1", {"a": 1}, False),
        ("not a == 1", {"a": 2}, True),
        ("not a in ['x']", {"a": "x"}, False),
        # and binds tighter than or: a or (b and c)
        ("a or b and c", {"a": True, "b": False, "c": False}, True),
        ("(a or b) and c", {"a": True, "b": False, "c": False}, False),
        ("a and b or c", {"a": False, "b": True, "c": True}, True),
        ("a and (b or c)", {"a": False, "b": True, "c": True}, False),
        # not binds tighter than and
        ("not a and b", {"a": False, "b": True}, True),
        ("not (a and b)", {"a": True, "b": False}, True),
        ("not a and b", {"a": True, "b": False}, False),
        ("not not a", {"a": 1}, True),
        ("a or b or c", {"c": 1}, True),
        ("a and b and c", {"a": 1, "b": 1, "c": 0}, False),
        ("((a))", {"a": 1}, True),
    ],
)
def test_precedence(source: str, values: dict[str, object], expected: bool) -> None:
    assert parse(source).test(values) is expected


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("satisfaction <= 2", {"satisfaction"}),
        ("age >= 18 and country in ['de', 'fr']", {"age", "country"}),
        ("(a or b) and not c", {"a", "b", "c"}),
        ("x != null and y == true or z == false", {"x", "y", "z"}),
        ("'name' == 'other'", set()),
        ("a == a", {"a"}),
        ("notable or android or inside", {"notable", "android", "inside"}),
        ("_x1 == truely", {"_x1", "truely"}),
    ],
)
def test_names(source: str, names: set[str]) -> None:
    expression = parse(source)
    assert expression.names == frozenset(names)
    assert expression.source == source


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("x == null", {}, True),
        ("x == null", {"x": None}, True),
        ("x == 0", {}, False),
        ("x < 3", {}, False),
        ("x > 3", {}, False),
        ("x <= 3", {"x": None}, False),
        ("x >= 3", {"x": None}, False),
        ("3 > x", {}, False),
        ("x in ['a']", {}, False),
        ("x not in ['a']", {}, True),
        ("'a' in x", {}, False),
        ("'a' not in x", {}, False),
        ("x", {}, False),
        ("not x", {}, True),
    ],
)
def test_null_semantics(source: str, values: dict[str, object], expected: bool) -> None:
    assert parse(source).test(values) is expected


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # A bool is never equal to a number.
        ("x == 1", {"x": True}, False),
        ("x == 0", {"x": False}, False),
        ("x != 1", {"x": True}, True),
        ("x == true", {"x": True}, True),
        ("x == true", {"x": 1}, False),
        ("x in [1, 2]", {"x": True}, False),
        # Orderings of incomparable types are false rather than errors.
        ("x < 3", {"x": "2"}, False),
        ("x >= 'a'", {"x": 5}, False),
        ("x > 0", {"x": True}, False),
        ("x < [1]", {"x": [0]}, False),
        # Mixed int/float compare as numbers.
        ("x < 2", {"x": 1.5}, True),
        ("x == 2", {"x": 2.0}, True),
        # in with a container that is neither list nor string is false; not in is its negation.
        ("'a' in x", {"x": 5}, False),
        ("1 in x", {"x": "123"}, False),
        ("1 not in x", {"x": "123"}, True),
        ("'a' in x", {"x": ("a", "b")}, True),
        ("x in 'abc'", {"x": "bc"}, True),
        ("x not in 'abc'", {"x": "bd"}, True),
        ("x", {"x": []}, False),
        ("x", {"x": ["a"]}, True),
        ("x", {"x": ""}, False),
        ("x", {"x": 0}, False),
        ("x", {"x": "no"}, True),
    ],
)
def test_evaluation_never_raises(source: str, values: dict[str, object], expected: bool) -> None:
    assert parse(source).test(values) is expected


def test_evaluate_returns_values_and_test_returns_bool() -> None:
    expression = parse("features")
    assert expression.evaluate({"features": ["api"]}) == ["api"]
    assert expression.evaluate({}) is None
    assert expression.test({"features": ["api"]}) is True
    assert parse("a or b").evaluate({"b": "x"}) is True
    assert parse("a and b").evaluate({"a": 1, "b": 0}) is False


def test_whitespace_is_free() -> None:
    assert parse("  a==1\tand\nb  in[ 'x' ]  ").test({"a": 1, "b": "x"}) is True


def test_expressions_compare_by_source() -> None:
    assert parse("a == 1") == parse("a == 1")
    assert parse("a == 1") != parse("a == 2")
    assert isinstance(hash(parse("a == 1")), int)
    assert isinstance(parse("a"), Expression)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a ==", "expression 'a ==' does not parse: unexpected end at column 5"),
        ("a == ", "expression 'a == ' does not parse: unexpected end at column 5"),
        ("(a", "unexpected end at column 3"),
        ("a $ b", "unexpected character '$' at column 3"),
        ("a < b < c", "unexpected '<' at column 7"),
        ("a b", "unexpected 'b' at column 3"),
        ("Flavour == 'x'", "unexpected character 'F' at column 1"),
        ("a == True", "unexpected character 'T' at column 6"),
        ("a = 1", "at column 3"),
        ("a == 'open", "at column 6"),
        ("and a", "unexpected 'and' at column 1"),
        ("or", "unexpected 'or' at column 1"),
        ("a == and", "unexpected 'and' at column 6"),
        ("x in not", "unexpected 'not' at column 6"),
        ("a == in", "unexpected 'in' at column 6"),
        ("a in [b]", "unexpected 'b' at column 7"),
        ("a == 1)", "unexpected ')' at column 7"),
        ("a + 1", "unexpected character '+' at column 3"),
        ("__import__('os')", "unexpected '(' at column 11"),
    ],
)
def test_parse_errors_say_what_and_where(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert message in str(caught.value)
    assert "does not parse" in str(caught.value)


@pytest.mark.parametrize("source", ["", "   ", "\t\n"])
def test_empty_expression_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError, match="empty"):
        parse(source)


def test_parser_is_built_lazily_and_once() -> None:
    expressions._parser.cache_clear()
    assert expressions._parser.cache_info().currsize == 0
    parse("a == 1")
    parse("b == 2")
    info = expressions._parser.cache_info()
    assert (info.currsize, info.misses) == (1, 1)
