"""Loading survey files: what the format page promises, and every problem reported at its line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from textwrap import dedent

import pytest

from bot.errors import DefinitionError
from bot.loader import MAX_SURVEY_BYTES, choice_id, load_file, load_text
from bot.survey import END, Choice, QuestionType, Settings, Survey

SURVEYS = Path(__file__).resolve().parents[2] / "surveys"
EXAMPLES = sorted(SURVEYS.glob("*.yaml"))

FORMAT_PAGE_EXAMPLE = """\
id: ice-cream                      # required: [a-z0-9][a-z0-9_-]*, at most 32 characters
title: Ice cream preferences       # required
version: 1                         # optional positive integer (see Versions)
settings:                          # every setting is optional
  one_response_per_user: true      # default true: a finished survey cannot be taken again
  allow_back: true                 # default true
  anonymous: false                 # default false; true: no platform user id or name is stored
  session_ttl: 24h                 # default 24h: idle time after which the conversation state is dropped
welcome: "Hello {respondent.name}! We'd like to know which ice cream you prefer."
goodbye: "Thank you for your time, {respondent.name}! Your response has been recorded."
questions:
  - id: flavour
    type: single_choice
    text: Which flavour do you prefer?
    choices:
      - {id: vanilla, label: Vanilla}
      - {id: chocolate, label: Chocolate, reply: "Great choice! Chocolate is a classic favorite."}
      - {id: strawberry, label: Strawberry}
  - id: wants_feedback
    type: yes_no
    text: Would you like to tell us why you chose {flavour}?
    next:
      - {if: "not wants_feedback", goto: end}
  - id: why
    type: text
    text: Why {flavour}?
    max_length: 500
"""


def load(text: str) -> Survey:
    return load_text(dedent(text).lstrip("\n"), "s.yaml")


def problems(text: str) -> list[str]:
    """Every problem reported for ``text`` (dedented; its first line is line 1), as printed."""
    with pytest.raises(DefinitionError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.problems]


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# --- What loads --------------------------------------------------------------------------------------


def test_there_are_examples_and_together_they_use_every_question_type() -> None:
    assert len(EXAMPLES) >= 3
    used = {question.type for path in EXAMPLES for question in load_file(path).questions}
    assert used == set(QuestionType)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_survey_loads(path: Path) -> None:
    survey = load_file(path)
    assert survey.file == str(path)
    assert survey.source == path.read_text(encoding="utf-8")
    assert len(survey.content_hash) == 64
    assert survey.questions


def test_the_examples_use_every_feature() -> None:
    surveys = [load_file(path) for path in EXAMPLES]
    questions = [question for survey in surveys for question in survey.questions]
    rules = [rule for question in questions for rule in question.next]
    assert any(question.show_if for question in questions)
    assert any(rule.condition is not None for rule in rules)
    assert any(rule.condition is None and rule.goto != END for rule in rules)
    assert any(rule.goto == END for rule in rules)
    assert any(choice.reply for question in questions for choice in question.choices)
    assert any(question.reply for question in questions)
    assert any(question.error for question in questions)
    assert any(not question.required for question in questions)
    assert any(question.labels for question in questions)
    assert any(question.pattern for question in questions)
    assert any(question.min_date and question.max_date for question in questions)
    assert any(question.max_choices for question in questions)
    assert any(q.type is QuestionType.NUMBER and q.min_value is not None and q.integer for q in questions)
    assert any("{{" in question.text for question in questions)
    assert any(survey.version is not None for survey in surveys)
    assert any(survey.settings != Settings() for survey in surveys)
    assert {"yes", "no"} <= {choice.id for question in questions for choice in question.choices}


def test_the_ice_cream_example_holds_the_conversation_of_the_brief() -> None:
    survey = load_file(SURVEYS / "ice-cream.yaml")
    assert survey.welcome == (
        "Hello {respondent.name}! We are interested to know which flavour of ice cream you prefer."
    )
    assert survey.goodbye == "Thank you for your time, {respondent.name}! Your response has been recorded."
    flavour, wants_feedback, why = survey.questions
    assert flavour.text == "Which flavour of ice cream do you prefer?"
    assert [choice.label for choice in flavour.choices] == ["Vanilla", "Chocolate", "Strawberry"]
    assert flavour.choices[1].reply == "Great choice! Chocolate is a classic favorite."
    assert wants_feedback.type is QuestionType.YES_NO
    assert wants_feedback.text == "Would you like to provide feedback on why you chose {flavour}?"
    (rule,) = wants_feedback.next
    assert rule.goto == END
    assert rule.condition is not None
    assert rule.condition.test({"wants_feedback": False})
    assert not rule.condition.test({"wants_feedback": True})
    assert why.type is QuestionType.TEXT


def test_the_format_page_example_loads() -> None:
    survey = load_text(FORMAT_PAGE_EXAMPLE, "ice-cream.yaml")
    assert (survey.id, survey.title, survey.version) == ("ice-cream", "Ice cream preferences", 1)
    assert survey.settings == Settings(True, True, False, 24 * 3600)
    assert [q.id for q in survey.questions] == ["flavour", "wants_feedback", "why"]
    assert survey.questions[0].choices[1] == Choice(
        "chocolate", "Chocolate", "Great choice! Chocolate is a classic favorite."
    )
    assert survey.questions[1].next[0].goto == END
    assert survey.questions[2].max_length == 500
    assert survey.source == FORMAT_PAGE_EXAMPLE
    assert survey.file == "ice-cream.yaml"


def test_defaults_are_applied() -> None:
    survey = load("""
        id: defaults
        title: Defaults
        questions:
          - {id: r, type: rating, text: "R?"}
          - {id: n, type: nps, text: "N?"}
          - {id: t, type: text, text: "T?"}
          - {id: m, type: multi_choice, text: "M?", choices: [A, B, C]}
    """)
    rating, nps, text, multi = survey.questions
    assert (rating.min_value, rating.max_value) == (1.0, 5.0)
    assert (nps.min_value, nps.max_value) == (0.0, 10.0)
    assert (text.max_length, text.required, text.show_if, text.next) == (2000, True, None, ())
    assert (multi.min_choices, multi.max_choices) == (1, None)
    assert survey.settings == Settings()
    assert survey.version is None
    assert (survey.welcome, survey.goodbye) == (None, None)


def test_type_specific_fields_are_read() -> None:
    survey = load("""
        id: fields
        title: Fields
        questions:
          - {id: t, type: text, text: "T?", min_length: 2, max_length: 9, pattern: "[a-z]+"}
          - {id: n, type: number, text: "N?", min: -1.5, max: 3, integer: true}
          - {id: r, type: rating, text: "R?", min: 0, max: 3, labels: {0: Bad, 3: Good}}
          - {id: d, type: date, text: "D?", min: 2025-01-01, max: "2025-12-31"}
          - {id: m, type: multi_choice, text: "M?", choices: [A, B, C], min_choices: 2, max_choices: 3}
    """)
    text, number, rating, date, multi = survey.questions
    assert (text.min_length, text.max_length, text.pattern) == (2, 9, "[a-z]+")
    assert (number.min_value, number.max_value, number.integer) == (-1.5, 3.0, True)
    assert (rating.min_value, rating.max_value, dict(rating.labels)) == (0.0, 3.0, {0: "Bad", 3: "Good"})
    assert (date.min_date, date.max_date) == ("2025-01-01", "2025-12-31")
    assert (multi.min_choices, multi.max_choices) == (2, 3)


def test_expressions_are_parsed() -> None:
    survey = load("""
        id: expr
        title: Expressions
        questions:
          - {id: age, type: number, text: "Age?"}
          - {id: beer, type: yes_no, text: "Beer?", show_if: "age >= 18"}
    """)
    show_if = survey.questions[1].show_if
    assert show_if is not None
    assert show_if.names == frozenset({"age"})
    assert show_if.test({"age": 20})
    assert not show_if.test({"age": 12})


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("3600", 3600), ("'45'", 45)],
)
def test_session_ttl_durations(written: str, seconds: int) -> None:
    survey = load(f"""
        id: ttl
        title: TTL
        settings: {{session_ttl: {written}}}
        questions: [{{id: q, type: email, text: "Mail?"}}]
    """)
    assert survey.settings.session_ttl == seconds


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Dark chocolate", "dark_chocolate"),
        ("  Rocky -- Road!  ", "rocky_road"),
        ("Mint & Chip", "mint_chip"),
        ("42", "c_42"),
        ("_private", "private"),
        ("7 Up", "c_7_up"),
        ("a" * 40, "a" * 32),
    ],
)
def test_plain_string_choices_get_derived_ids(label: str, expected: str) -> None:
    assert choice_id(label) == expected


def test_plain_string_choice_is_id_and_label() -> None:
    survey = load("""
        id: plain
        title: Plain choices
        questions:
          - id: flavour
            type: single_choice
            text: Flavour?
            choices:
              - Dark chocolate
              - {id: vanilla, label: Vanilla}
    """)
    assert survey.questions[0].choices == (
        Choice("dark_chocolate", "Dark chocolate"),
        Choice("vanilla", "Vanilla"),
    )


def test_unquoted_yes_no_on_off_stay_strings() -> None:
    survey = load("""
        id: yes
        title: no
        welcome: on
        questions:
          - id: dinner
            type: single_choice
            text: off
            choices:
              - {id: yes, label: Yes, reply: y}
              - {id: no, label: NO}
              - On
              - n
    """)
    assert (survey.id, survey.title, survey.welcome) == ("yes", "no", "on")
    question = survey.questions[0]
    assert question.text == "off"
    assert question.choices == (
        Choice("yes", "Yes", "y"),
        Choice("no", "NO"),
        Choice("on", "On"),
        Choice("n", "n"),
    )


def test_true_and_false_are_booleans_in_any_case() -> None:
    survey = load("""
        id: bools
        title: Booleans
        settings: {one_response_per_user: False, allow_back: FALSE, anonymous: True}
        questions: [{id: q, type: text, text: "Q?", required: false}]
    """)
    assert survey.settings == Settings(one_response_per_user=False, allow_back=False, anonymous=True)
    assert survey.questions[0].required is False


def test_anchors_and_merge_keys_work() -> None:
    survey = load("""
        id: anchors
        title: Anchors
        questions:
          - &base {id: a, type: single_choice, text: "A?", choices: &agree [Agree, Disagree]}
          - {<<: *base, id: b, text: "B?"}
          - {id: c, type: multi_choice, text: "C?", choices: *agree}
    """)
    a, b, c = survey.questions
    assert a.choices == b.choices == c.choices
    assert (b.id, b.text, b.type) == ("b", "B?", QuestionType.SINGLE_CHOICE)


# --- content_hash ------------------------------------------------------------------------------------


def test_content_hash_ignores_comments_and_layout() -> None:
    reformatted = FORMAT_PAGE_EXAMPLE.replace("# required\n", "# the title\n").replace(
        "      - {id: vanilla, label: Vanilla}\n",
        "      # the classic\n      - id: vanilla\n        label: Vanilla\n",
    )
    assert reformatted != FORMAT_PAGE_EXAMPLE
    assert load_text(reformatted).content_hash == load_text(FORMAT_PAGE_EXAMPLE).content_hash


def test_content_hash_changes_with_a_real_edit() -> None:
    edited = FORMAT_PAGE_EXAMPLE.replace("Why {flavour}?", "Why do you like {flavour}?")
    assert edited != FORMAT_PAGE_EXAMPLE
    assert load_text(edited).content_hash != load_text(FORMAT_PAGE_EXAMPLE).content_hash


def test_content_hash_ignores_the_version() -> None:
    bumped = FORMAT_PAGE_EXAMPLE.replace("version: 1 ", "version: 7 ")
    dropped = FORMAT_PAGE_EXAMPLE.replace("version: 1 ", "")
    original = load_text(FORMAT_PAGE_EXAMPLE)
    assert load_text(bumped).version == 7
    assert load_text(dropped).version is None
    assert load_text(bumped).content_hash == load_text(dropped).content_hash == original.content_hash


def test_content_hash_reads_a_date_and_its_quoted_form_alike() -> None:
    template = "id: d\ntitle: D\nquestions: [{{id: d, type: date, text: D, min: {}}}]\n"
    assert load_text(template.format("2025-01-01")).content_hash == (
        load_text(template.format("'2025-01-01'")).content_hash
    )


# --- Problems, one per class the format page lists ----------------------------------------------------


def test_goto_to_an_unknown_question() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: a
            type: yes_no
            text: A?
            next:
              - if: a
                goto: nowhere        # line 9
          - {id: b, type: text, text: "B?"}
    """)
    assert problem.startswith("s.yaml:9: question 'a': ")
    assert "goto 'nowhere'" in problem
    assert "no such question" in problem


def test_duplicate_question_ids() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: a
            type: yes_no
            text: A?
          - id: a                # line 7
            type: text
            text: Again?
    """)
    assert problem == "s.yaml:7: question 'a': duplicate question id 'a' (first used at line 4)"


@pytest.mark.parametrize("target", ["a", "b"])
def test_goto_to_an_earlier_or_the_same_question(target: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - {{id: a, type: yes_no, text: "A?"}}
          - id: b
            type: yes_no
            text: B?
            next:
              - {{if: "not b", goto: {target}}}      # line 9
          - {{id: c, type: text, text: "C?"}}
    """)
    assert problem.startswith("s.yaml:9: question 'b': ")
    assert f"goto '{target}' must point to a later question" in problem


def test_expression_that_does_not_parse() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - {id: age, type: number, text: "Age?"}
          - id: beer
            type: yes_no
            text: Beer?
            show_if: "age >= >= 18"      # line 8
    """)
    assert problem.startswith("s.yaml:8: question 'beer': show_if: ")
    assert "does not parse" in problem


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("colour", "names unknown question 'colour'"),
        ("later", "names question 'later', which comes later"),
        ("beer", "names question 'beer', this question itself"),
    ],
)
def test_show_if_naming_an_unknown_or_later_question(name: str, complaint: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - {{id: age, type: number, text: "Age?"}}
          - id: beer
            type: yes_no
            text: Beer?
            show_if: "age >= 18 and {name} != null"       # line 8
          - {{id: later, type: text, text: "Later?"}}
    """)
    assert problem.startswith("s.yaml:8: question 'beer': show_if ")
    assert complaint in problem


def test_next_condition_may_name_its_own_question_but_not_a_later_one() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: a
            type: yes_no
            text: A?
            next:
              - {if: "a", goto: c}
              - {if: "b", goto: end}      # line 9
          - {id: b, type: yes_no, text: "B?"}
          - {id: c, type: text, text: "C?"}
    """)
    assert problem == (
        "s.yaml:9: question 'a': next rule 2 names question 'b', which comes later; "
        "only this question and earlier ones can be used"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Why {colour}?", "text: placeholder {colour} names unknown question 'colour'"),
        ("Why {later}?", "text: placeholder {later} names question 'later', which comes later"),
        ("Why {why}?", "text: placeholder {why} names question 'why', this question itself"),
        ("Why {flavour?", "text: unclosed '{'"),
    ],
)
def test_placeholder_naming_an_unknown_or_later_question(text: str, complaint: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - {{id: flavour, type: single_choice, text: "Flavour?", choices: [Vanilla, Chocolate]}}
          - id: why
            type: text
            text: "{text}"       # line 7
          - {{id: later, type: text, text: "Later?"}}
    """)
    assert problem.startswith("s.yaml:7: question 'why': ")
    assert complaint in problem


def test_replies_may_name_their_own_question_but_errors_may_not() -> None:
    survey = load("""
        id: s
        title: S
        questions:
          - id: flavour
            type: single_choice
            text: Flavour?
            reply: "{flavour} it is."
            choices:
              - {id: a, label: A, reply: "{flavour}, good choice."}
              - B
    """)
    assert survey.questions[0].reply == "{flavour} it is."
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: n
            type: number
            text: N?
            error: "{n} is not a number"     # line 7
    """)
    assert problem.startswith(
        "s.yaml:7: question 'n': error: placeholder {n} names question 'n', this question"
    )


def test_welcome_may_only_name_the_respondent_and_goodbye_any_question() -> None:
    survey = load("""
        id: s
        title: S
        welcome: "Hi {respondent.name}!"
        goodbye: "Bye {respondent.name}, {{{b}}} noted."
        questions:
          - {id: a, type: yes_no, text: "A?"}
          - {id: b, type: yes_no, text: "B?"}
    """)
    assert survey.goodbye == "Bye {respondent.name}, {{{b}}} noted."
    found = problems("""
        id: s
        title: S
        welcome: "Hi {a}!"            # line 3
        goodbye: "Bye {c}."           # line 4
        questions:
          - {id: a, type: yes_no, text: "A?"}
    """)
    assert len(found) == 2, found
    assert found[0].startswith("s.yaml:3: welcome: placeholder {a} names question 'a', but the welcome")
    assert found[1] == "s.yaml:4: goodbye: placeholder {c} names unknown question 'c'"


@pytest.mark.parametrize(
    ("question", "complaint"),
    [
        ("{id: q, type: number, text: Q, min: 10, max: 2}", "min (10) is above max (2)"),
        ("{id: q, type: rating, text: Q, min: 5, max: 3}", "min (5) must be below max (3)"),
        ("{id: q, type: rating, text: Q, min: 7}", "min (7) must be below max (5)"),
        (
            "{id: q, type: text, text: Q, min_length: 9, max_length: 3}",
            "min_length (9) is above max_length (3)",
        ),
        ("{id: q, type: text, text: Q, min_length: 2001}", "min_length (2001) is above max_length (2000"),
        ("{id: q, type: date, text: Q, min: 2025-02-01, max: 2025-01-01}", "min (2025-02-01) is after max"),
        (
            "{id: q, type: multi_choice, text: Q, choices: [A, B, C], min_choices: 3, max_choices: 2}",
            "min_choices (3) is above max_choices (2)",
        ),
        (
            "{id: q, type: multi_choice, text: Q, choices: [A, B, C], max_choices: 4}",
            "max_choices (4) is above the number of choices (3)",
        ),
    ],
)
def test_min_above_max(question: str, complaint: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - {question}      # line 4
    """)
    assert problem.startswith("s.yaml:4: question 'q': ")
    assert complaint in problem


@pytest.mark.parametrize("choices", ["[Vanilla]", "[]"])
def test_fewer_than_two_choices(choices: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - id: flavour
            type: single_choice
            text: Flavour?
            choices: {choices}       # line 7
    """)
    assert problem.startswith("s.yaml:7: question 'flavour': needs at least two choices")


@pytest.mark.parametrize(
    ("field", "line", "where"),
    [
        ("colour: red", 7, "question 'q': unknown field 'colour'"),
        ("choices: [A, B]", 7, "question 'q': unknown field 'choices'"),  # a field of another type
        ("labels: {1: Bad}", 7, "question 'q': unknown field 'labels'"),
    ],
)
def test_unknown_field(field: str, line: int, where: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - id: q
            type: number
            text: Q?
            {field}
    """)
    assert problem == f"s.yaml:{line}: {where}"


def test_unknown_fields_elsewhere() -> None:
    found = problems("""
        id: s
        title: S
        colour: red                         # line 3
        settings: {language: en}            # line 4
        questions:
          - id: q
            type: single_choice
            text: Q?
            choices:
              - {id: a, label: A, colour: red}   # line 10
              - B
            next:
              - {if: q == 'a', goto: end, else: end}   # line 13
    """)
    assert found == [
        "s.yaml:3: unknown field 'colour'",
        "s.yaml:4: unknown field 'language' in settings",
        "s.yaml:10: question 'q': unknown field 'colour' in a choice",
        "s.yaml:13: question 'q': unknown field 'else' in next rule 1",
    ]


def test_every_problem_of_a_file_is_reported() -> None:
    found = problems("""
        id: Bad Id                       # line 1
        title: S
        version: 0                       # line 3
        questions:
          - id: a
            type: single_choice
            text: A {zz}?                # line 7
            choices: [Only]              # line 8
          - id: a                        # line 9
            type: colour                 # line 10
            text: Again?
          - id: c
            type: yes_no
            text: C?
            show_if: "a =="              # line 15
            next:
              - {goto: a}                # line 17
              - {if: c, goto: end}
    """)
    lines = [problem.split(":")[1] for problem in found]
    assert lines == ["1", "3", "7", "8", "9", "10", "15", "17", "17"], found
    assert "question 'a': text: placeholder {zz} names unknown question 'zz'" in found[2]
    assert "unknown type 'colour'" in found[5]


# --- Other problems ----------------------------------------------------------------------------------


def test_missing_required_fields_are_reported_at_the_mapping() -> None:
    found = problems("""
        title: S
        questions:
          - id: q                # line 3
            type: text
          - type: text           # line 5
            text: No id
    """)
    assert found == [
        "s.yaml:1: missing required field 'id'",
        "s.yaml:3: question 'q': missing required field 'text'",
        "s.yaml:5: missing required field 'id'",
    ]


@pytest.mark.parametrize(
    ("field", "complaint"),
    [
        ("text: 42", "'text' must be text, not the number 42; put it in quotes"),
        ("text: true", "'text' must be text, not the boolean true; put it in quotes"),
        ("text: [a, b]", "'text' must be text, not a list"),
        ("text: ''", "'text' must not be empty"),
        ("required: yes", "'required' must be true or false, not the text 'yes'"),
        ("max_length: 1.5", "'max_length' must be a whole number"),
        ("max_length: -1", "'max_length' must be at least 0, not -1"),
        ("pattern: '(unclosed'", "pattern is not a valid regular expression"),
        ("show_if: true", "'show_if' must be text"),
        ("next: end", "'next' must be a list"),
    ],
)
def test_fields_of_the_wrong_type(field: str, complaint: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        questions:
          - id: q
            type: text
            {field}
            {"text: Q?" if not field.startswith("text") else ""}
    """)
    assert problem.startswith("s.yaml:6: question 'q': ")
    assert complaint in problem


def test_a_choice_label_must_be_text() -> None:
    found = problems("""
        id: s
        title: S
        questions:
          - id: q
            type: single_choice
            text: Q?
            choices:
              - true                      # line 8
              - 3                         # line 9
              - {id: a, label: false}     # line 10
              - {id: B, label: B}         # line 11
    """)
    assert found == [
        "s.yaml:8: question 'q': a choice must be a label or a mapping {id, label, reply}, "
        "not the boolean true; put it in quotes",
        "s.yaml:9: question 'q': a choice must be a label or a mapping {id, label, reply}, "
        "not the number 3; put it in quotes",
        "s.yaml:10: question 'q': 'label' must be text, not the boolean false; put it in quotes",
        "s.yaml:11: question 'q': choice id 'B' must match [a-z][a-z0-9_]*",
    ]


def test_duplicate_choice_ids_including_derived_ones() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: q
            type: single_choice
            text: Q?
            choices:
              - {id: dark_chocolate, label: Dark}
              - Dark chocolate           # line 9
    """)
    assert problem == "s.yaml:9: question 'q': duplicate choice id 'dark_chocolate' (first used at line 8)"


def test_rating_labels_must_be_in_range_and_text() -> None:
    found = problems("""
        id: s
        title: S
        questions:
          - id: r
            type: rating
            text: R?
            labels:
              1: Bad
              6: Beyond              # line 9
              5: 5                   # line 10
    """)
    assert found == [
        "s.yaml:9: question 'r': labels: 6 is not a rating from 1 to 5",
        "s.yaml:10: question 'r': '5' must be text, not the number 5; put it in quotes",
    ]


def test_ids_must_follow_the_rules() -> None:
    long_id = "q" * 33
    found = problems(f"""
        id: -survey                 # line 1
        title: S
        questions:
          - {{id: Flavour, type: text, text: "A?"}}      # line 4
          - {{id: {long_id}, type: text, text: "B?"}}      # line 5
          - {{id: end, type: text, text: "C?"}}          # line 6
    """)
    assert [problem.split(": ", 1)[0] for problem in found] == [
        "s.yaml:1",
        "s.yaml:4",
        "s.yaml:5",
        "s.yaml:6",
    ]
    assert "id '-survey' must match [a-z0-9][a-z0-9_-]*" in found[0]
    assert "question 'Flavour': id 'Flavour' must match [a-z][a-z0-9_]*" in found[1]
    assert "is longer than 32 characters" in found[2]
    assert "'end' cannot be a question id" in found[3]


def test_only_the_last_rule_may_leave_out_if() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: a
            type: yes_no
            text: A?
            next:
              - {goto: c}             # line 8
              - {if: a, goto: end}
          - {id: b, type: text, text: "B?"}
          - {id: c, type: text, text: "C?"}
    """)
    assert problem.startswith("s.yaml:8: question 'a': next rule 1 has no 'if'")


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ("{session_ttl: 0}", "'session_ttl' must be longer than zero"),
        ("{session_ttl: 2 weeks}", "'session_ttl' must be a duration like 90s, 30m, 24h or 7d"),
        ("{session_ttl: -5}", "'session_ttl' must be longer than zero"),
        ("{session_ttl: 1.5h}", "'session_ttl' must be a duration"),
        ("{anonymous: maybe}", "'anonymous' must be true or false, not the text 'maybe'"),
        ("[anonymous]", "'settings' must be a mapping, not a list"),
    ],
)
def test_settings_problems(settings: str, complaint: str) -> None:
    problem = only_problem(f"""
        id: s
        title: S
        settings: {settings}
        questions: [{{id: q, type: email, text: "Mail?"}}]
    """)
    assert problem.startswith("s.yaml:3: ")
    assert complaint in problem


def test_duplicate_keys_are_a_problem() -> None:
    found = problems("""
        id: s
        title: S
        title: T                # line 3
        questions:
          - id: q
            type: text
            text: Q?
            text: Again?        # line 8
    """)
    assert found == ["s.yaml:3: duplicate field 'title'", "s.yaml:8: question 'q': duplicate field 'text'"]


def test_top_level_version_and_questions() -> None:
    found = problems("""
        id: s
        title: S
        version: first          # line 3
        questions: []           # line 4
    """)
    assert found == [
        "s.yaml:3: 'version' must be a whole number, not the text 'first'",
        "s.yaml:4: 'questions' must list at least one question",
    ]


def test_an_invalid_date_is_reported_once() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - {id: d, type: date, text: "D?", min: 2025-02-30}    # line 4
    """)
    assert problem.startswith("s.yaml:4: ")
    assert "day is out of range for month" in problem


# --- Files that are not surveys at all ----------------------------------------------------------------


def test_yaml_syntax_error_is_one_problem_at_its_line() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: q
            text: Why: because       # line 5
          - id: r
    """)
    assert problem == "s.yaml:5: invalid YAML: mapping values are not allowed here"


def test_yaml_syntax_error_names_where_the_broken_part_began() -> None:
    problem = only_problem("""
        id: s
        title: S
        questions:
          - id: q
            text: "unclosed          # line 5
          - id: r
    """)
    assert problem.startswith("s.yaml:7: invalid YAML: while scanning a quoted scalar at line 5 ")


def test_bad_indentation_is_a_syntax_error() -> None:
    problem = only_problem("id: s\ntitle: S\n  questions: []\n")
    assert problem.startswith("s.yaml:3: invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "s.yaml:1: the file is empty"),
        ("# only a comment\n", "s.yaml:1: the file is empty"),
        ("- a\n- b\n", "s.yaml:1: a survey file must be a mapping with id, title and questions"),
        ("just words\n", "s.yaml:1: a survey file must be a mapping with id, title and questions"),
        ("id: a\n---\nid: b\n", "s.yaml:2: invalid YAML: expected a single document"),
        ("id: !!python/name:os.system x\n", "s.yaml:1: invalid YAML value"),
        ("id: !custom x\n", "s.yaml:1: invalid YAML value"),
    ],
)
def test_files_that_are_not_a_survey(text: str, complaint: str) -> None:
    found = problems(text)
    assert found[0].startswith(complaint), found


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: s\ntitle: Crème brûlée\n".encode("latin-1"))
    with pytest.raises(DefinitionError) as caught:
        load_file(path)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{path}:2: the file is not UTF-8 text")


def test_load_file_names_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("id: s\ntitle: S\nquestions: [{id: q, type: nps, text: NPS, min: 0}]\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_file(str(path))
    assert [str(p) for p in caught.value.problems] == [f"{path}:3: question 'q': unknown field 'min'"]


def test_dates_may_be_written_bare_or_quoted() -> None:
    survey = load("""
        id: s
        title: S
        questions:
          - {id: d, type: date, text: "D?", min: 2025-01-01, max: '2025-03-01'}
    """)
    assert (survey.questions[0].min_date, survey.questions[0].max_date) == ("2025-01-01", "2025-03-01")
    assert dt.date.fromisoformat(survey.questions[0].max_date or "") == dt.date(2025, 3, 1)


def test_a_file_over_the_one_size_limit_is_refused_unread(tmp_path: Path) -> None:
    """1 MiB for every way in: `surveybot load`/`validate`, chat uploads and the HTTP API."""
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"id: s\n" + b"#" * MAX_SURVEY_BYTES)
    with pytest.raises(DefinitionError) as caught:
        load_file(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1: the file is larger than 1024 KB, too large for a survey"
    ]
