"""`surveybot check`: the path walk, each warning at its line, platform limits, transcripts and the CLI."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from adapters.check import (
    ALL_CODES,
    TranscriptError,
    check_survey,
    path_transcripts,
    read_answers,
    transcript,
)
from adapters.cli import cli
from bot.analysis import CODES, analyse
from bot.flow import next_question
from bot.loader import load_file, load_text
from bot.responses import AnswerValue
from bot.survey import Survey

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "surveys").glob("*.yaml"))


def survey(body: str) -> Survey:
    return load_text(textwrap.dedent(body), "s.yaml")


def found(body: str) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in check_survey(survey(body)).findings]


# --- the walk ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_surveys_pass_with_no_warning(path: Path) -> None:
    report = check_survey(load_file(path))

    assert report.findings == ()
    assert report.paths.count >= 2 and not report.paths.sampled and not report.paths.more


def test_ice_cream_has_two_paths_of_two_and_three_questions() -> None:
    report = check_survey(load_file(ROOT / "surveys" / "ice-cream.yaml"))

    assert sorted(report.paths.questions) == [
        ("flavour", "wants_feedback"),
        ("flavour", "wants_feedback", "why"),
    ]
    assert (report.paths.shortest, report.paths.longest) == (2, 3)


BRANCHY = """\
    id: branchy
    title: Branchy
    questions:
      - id: age
        type: number
        integer: true
        min: 0
        max: 120
        text: Age?
        next:
          - {if: "age >= 18 and age < 65", goto: work}
      - id: school
        type: single_choice
        text: School?
        choices: [Primary, Secondary, None]
        next:
          - {if: "school == 'none'", goto: pet}
      - id: grade
        type: rating
        required: false
        text: Grade?
      - id: work
        type: yes_no
        show_if: "age != null and age >= 18"
        text: Do you work?
      - id: hours
        type: number
        show_if: "work"
        text: Hours?
      - id: pet
        type: multi_choice
        text: Pets?
        choices: [Cat, Dog, Fish]
        next:
          - {if: "'dog' in pet and 'cat' in pet", goto: end}
      - id: why
        type: text
        text: Why not both, {age}?
"""

DOMAINS: dict[str, list[AnswerValue]] = {
    "age": list(range(0, 121)),
    "school": ["primary", "secondary", "none"],
    "grade": [None, 1, 2, 3, 4, 5],
    "work": [True, False],
    "hours": [0.0, 40.0],
    "pet": [list(c) for n in (1, 2, 3) for c in itertools.combinations(["cat", "dog", "fish"], n)],
    "why": ["because"],
}


def brute_force(s: Survey, domains: dict[str, list[AnswerValue]] = DOMAINS) -> set[tuple[str, ...]]:
    """Every question sequence that any combination of answers from ``domains`` takes, by bot.flow."""
    sequences: set[tuple[str, ...]] = set()
    stack: list[tuple[str | None, dict[str, AnswerValue], tuple[str, ...]]] = [(None, {}, ())]
    while stack:
        after, values, path = stack.pop()
        question = next_question(s, after, values)
        if question is None:
            sequences.add(path)
            continue
        for value in domains[question.id]:
            stack.append((question.id, {**values, question.id: value}, (*path, question.id)))
    return sequences


def test_the_walk_finds_exactly_the_paths_that_every_answer_combination_takes() -> None:
    s = survey(BRANCHY)

    analysis = analyse(s)

    assert set(analysis.paths.questions) == brute_force(s)
    assert len(analysis.paths.questions) == len(set(analysis.paths.questions))


def test_each_path_is_taken_by_the_answers_listed_for_it() -> None:
    s = survey(BRANCHY)
    paths = analyse(s).paths

    for asked, typed in zip(paths.questions, paths.answers, strict=True):
        said = "\n".join(transcript(s, typed).splitlines())
        for question_id in asked:
            assert s.question(question_id).text.split("{")[0] in said
        assert "Thank you! Your response has been recorded." in said


def test_numbers_are_tried_at_the_edges_of_their_comparisons_not_one_by_one() -> None:
    s = survey(BRANCHY)

    analysis = analyse(s)

    # 0..120 reduce to the outcomes of age >= 18, age < 65 and age != null: three answers, not 121.
    assert analysis.paths.states < 40


def test_independent_branches_multiply_paths() -> None:
    questions = "".join(
        f"""
      - id: q{n}
        type: yes_no
        text: Q{n}?
        next:
          - {{if: "q{n}", goto: a{n}}}
      - id: b{n}
        type: text
        text: B{n}?
      - id: a{n}
        type: text
        text: A{n}?"""
        for n in range(6)
    )
    s = survey("id: many\ntitle: Many\nquestions:" + textwrap.indent(textwrap.dedent(questions), "  "))

    analysis = analyse(s)

    assert analysis.paths.count == 2**6
    assert (analysis.paths.shortest, analysis.paths.longest) == (12, 18)


@pytest.mark.parametrize(
    ("kind", "fields"),
    [("number", ""), ("number", "\n    integer: true"), ("date", ""), ("text", ""), ("email", "")],
)
def test_answers_compared_with_each_other_are_tried_on_both_sides(kind: str, fields: str) -> None:
    s = load_text(
        f"""id: s
title: S
questions:
  - id: a
    type: {kind}
    text: A?{fields}
  - id: b
    type: {kind}
    text: B?{fields}
    next:
      - {{if: "a < b", goto: end}}
  - id: c
    type: text
    text: C?
"""
    )

    analysis = analyse(s)

    assert sorted(analysis.paths.questions) == [("a", "b"), ("a", "b", "c")]
    assert analysis.findings == ()


def test_a_survey_too_large_to_walk_in_full_is_sampled_and_says_so() -> None:
    s = survey(BRANCHY)

    analysis = analyse(s, max_states=3)
    report = check_survey(s)

    assert analysis.paths.sampled and not report.paths.sampled
    assert analysis.paths.count < report.paths.count
    assert "sampled" not in report.text()


# --- warnings, each at its line ---------------------------------------------------------------------

CASES = {
    "unreachable": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: yes_no
            text: A?
            next:
              - {goto: c}
          - id: b
            type: text
            text: B?
          - id: c
            type: text
            text: C?
        """,
        9,
    ),
    "show-if-always-false": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: number
            min: 0
            max: 10
            text: A?
          - id: b
            type: text
            show_if: "a > 10"
            text: B?
        """,
        11,
    ),
    "show-if-always-true": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: rating
            text: A?
          - id: b
            type: text
            show_if: "a >= 1"
            text: B?
        """,
        9,
    ),
    "rule-always-true": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: single_choice
            text: A?
            choices: [X, Y]
            next:
              - {if: "a in ['x', 'y']", goto: c}
              - {if: "a == 'x'", goto: b}
          - id: b
            type: text
            text: B?
          - id: c
            type: text
            text: C?
        """,
        9,
    ),
    "rule-always-false": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: date
            min: 2026-01-01
            text: A?
            next:
              - {if: "a < '2025-06-01'", goto: c}
          - id: b
            type: text
            text: B?
          - id: c
            type: text
            text: C?
        """,
        9,
    ),
    "placeholder-unanswered": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: text
            required: false
            text: A?
          - id: b
            type: text
            text: "You said {a}; why?"
        """,
        10,
    ),
    "unknown-choice": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: single_choice
            text: A?
            choices: [Red, Blue]
          - id: b
            type: text
            show_if: "a == 'green'"
            text: B?
        """,
        10,
    ),
    "type-mismatch": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: yes_no
            text: A?
            next:
              - {if: "a == 'yes'", goto: end}
          - id: b
            type: text
            text: B?
        """,
        8,
    ),
    "choice-not-distinguished": (
        """\
        id: s
        title: S
        questions:
          - id: team
            type: single_choice
            text: Team?
            choices:
              - {id: sales, label: Sales}
              - {id: eng, label: Engineering}
              - {id: hr, label: People}
            next:
              - {if: "team == 'sales'", goto: pitch}
              - {if: "team == 'eng'", goto: stack}
          - id: pitch
            type: text
            text: Pitch?
            next:
              - {goto: end}
          - id: stack
            type: text
            text: Stack?
        """,
        10,
    ),
    "required-after-skip": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: text
            required: false
            text: A?
          - id: b
            type: text
            show_if: "a == null"
            text: B?
        """,
        8,
    ),
    "duplicate-label": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: single_choice
            text: A?
            choices:
              - {id: x, label: Other}
              - {id: y, label: " other"}
        """,
        9,
    ),
    "ambiguous-label": (
        """\
        id: s
        title: S
        questions:
          - id: a
            type: single_choice
            text: How many?
            choices:
              - {id: one, label: "2"}
              - {id: two, label: "1"}
        """,
        8,
    ),
}


def test_every_code_has_a_case() -> None:
    assert set(CASES) == set(CODES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_warning_is_found_at_its_line(code: str) -> None:
    body, line = CASES[code]

    findings = check_survey(survey(body)).findings

    assert (code, line) in [(f.code, f.line) for f in findings], [str(f) for f in findings]
    assert all(str(f).startswith("s.yaml:") for f in findings)


def test_a_type_mismatch_is_said_once_not_again_as_a_rule_that_never_holds() -> None:
    body, _ = CASES["type-mismatch"]

    codes = [code for code, _ in found(body)]

    assert codes.count("type-mismatch") == 1 and "rule-always-false" not in codes


def test_gathering_some_choices_against_the_rest_is_no_warning() -> None:
    body = """\
        id: s
        title: S
        questions:
          - id: dinner
            type: single_choice
            text: Dinner?
            choices: [Yes please, No thanks, Maybe]
          - id: diet
            type: text
            show_if: "dinner in ['yes_please', 'maybe']"
            text: Diet?
        """

    assert found(body) == []


def test_ignored_codes_are_left_out() -> None:
    body, _ = CASES["unreachable"]

    report = check_survey(survey(body), ignore={"unreachable"})

    assert "unreachable" not in [f.code for f in report.findings]


# --- platform limits --------------------------------------------------------------------------------


def test_texts_are_measured_with_the_longest_answers_filled_in() -> None:
    body = """\
        id: s
        title: S
        questions:
          - id: story
            type: text
            max_length: 2000
            text: Tell us a story.
          - id: again
            type: text
            text: "You wrote {story}, then {story}, then {story}. Sure?"
          - id: pick
            type: single_choice
            text: Pick one.
            choices:
              - A label long enough to be cut on a Slack button, since Slack shows at most seventy-five
              - Short
        """

    codes = found(body)

    assert ("telegram-text", 10) in codes
    assert ("slack-section", 10) in codes
    assert ("slack-button", 15) in codes
    assert not any(line == 7 for _, line in codes)  # the story question itself is short


def test_more_choices_than_slack_buttons_is_said() -> None:
    choices = "\n".join(f"      - Option {n}" for n in range(101))
    head = "id: s\ntitle: S\nquestions:\n  - id: a\n    type: single_choice\n    text: A?\n    choices:\n"
    s = load_text(f"{head}{choices}\n")

    assert ("slack-no-buttons", 6) in [(f.code, f.line) for f in check_survey(s).findings]


def test_every_code_is_known_to_the_command_line() -> None:
    assert set(CODES) <= set(ALL_CODES)
    assert {"telegram-text", "telegram-button-data", "slack-section", "slack-blocks"} <= set(ALL_CODES)


# --- transcripts ------------------------------------------------------------------------------------

ICE_CREAM = ROOT / "surveys" / "ice-cream.yaml"

TELEGRAM_TRANSCRIPT = """\
> /start ice-cream
#1
  Hello Alex! We are interested to know which flavour of ice cream you prefer.
#2
  Which flavour of ice cream do you prefer?
  [Vanilla] [Chocolate] [Strawberry]

> presses [Chocolate]
  (message #2 edited: answered)
    Which flavour of ice cream do you prefer?
    ✓ Chocolate
#3
  Great choice! Chocolate is a classic favorite.
#4
  Would you like to provide feedback on why you chose Chocolate?
  [Yes] [No]
  [Back]

> presses [No]
  (message #4 edited: answered)
    Would you like to provide feedback on why you chose Chocolate?
    ✓ No
#5
  Thank you for your time, Alex! Your response has been recorded.
"""


def test_a_telegram_transcript_shows_messages_buttons_and_edits() -> None:
    assert transcript(load_file(ICE_CREAM), ["[Chocolate]", "[No]"], "telegram") == TELEGRAM_TRANSCRIPT


def test_a_console_transcript_is_what_the_terminal_prints() -> None:
    text = transcript(load_file(ICE_CREAM), ["4", "2", "yes", "/back", "no"], "console")

    assert "  1. Vanilla\n  2. Chocolate\n  3. Strawberry" in text
    assert "Please reply with the number of your choice (1-3), or its name." in text  # 4 is refused
    assert text.rstrip().endswith("Thank you for your time, Alex! Your response has been recorded.")


def test_a_slack_transcript_shows_ticked_checkboxes() -> None:
    s = survey(
        """\
        id: s
        title: S
        questions:
          - id: pets
            type: multi_choice
            text: Pets?
            choices: [Cat, Dog]
        """
    )

    text = transcript(s, ["[Dog]", "[Done]"], "slack")

    assert text.startswith("> start s\n")
    assert "☐ Cat\n  ☐ Dog" in text
    assert "☐ Cat\n    ☑ Dog" in text  # the message edited with the tick
    assert "Pets?\n    ✓ Dog" in text


def test_a_button_the_question_does_not_have_is_refused() -> None:
    with pytest.raises(TranscriptError, match=r"no button \[Mint\].*\[Vanilla\]"):
        transcript(load_file(ICE_CREAM), ["[Mint]"], "telegram")


def test_answers_files_skip_blank_lines_and_comments() -> None:
    assert read_answers("# a comment\n\n2\n  yes \n\\# not a comment\n") == ["2", "yes", "# not a comment"]


def test_one_transcript_per_path_named_stably() -> None:
    s = load_file(ICE_CREAM)

    files = path_transcripts(s, check_survey(s), "console")

    assert [name for name, _ in files] == ["ice-cream.path-001.console.txt", "ice-cream.path-002.console.txt"]
    assert files == path_transcripts(s, check_survey(s), "console")
    assert all(text.startswith("# answer: ") for _, text in files)


# --- the command line -------------------------------------------------------------------------------

runner = CliRunner()


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_the_command_exits_0_on_clean_surveys() -> None:
    result = runner.invoke(cli, ["check", str(ROOT / "surveys")])

    assert result.exit_code == 0, result.output
    assert (
        "ice-cream.yaml: survey 'ice-cream', 3 questions: 2 paths; shortest 2 questions, longest 3"
        in result.output
    )


def test_the_command_exits_1_on_warnings_and_prints_json_for_ci(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", CASES["unreachable"][0])

    result = runner.invoke(cli, ["check", "--format", "json", str(path)])

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    (report,) = document["surveys"]
    assert report["paths"]["count"] == 1
    assert {"code": "unreachable", "file": str(path), "line": 9, "question": "b"}.items() <= report[
        "warnings"
    ][0].items()


def test_the_command_exits_2_on_a_refused_file_and_on_an_unknown_code(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "id: s\ntitle: S\nquestions: []\n")

    assert runner.invoke(cli, ["check", str(path)]).exit_code == 2
    assert runner.invoke(cli, ["check", "--ignore", "nonsense", str(ICE_CREAM)]).exit_code == 2


def test_the_command_prints_a_transcript_and_writes_all_paths(tmp_path: Path) -> None:
    answers = write(tmp_path, "answers.txt", "[Chocolate]\n[No]\n")

    shown = runner.invoke(
        cli, ["check", str(ICE_CREAM), "--transcript", str(answers), "--platform", "telegram"]
    )
    written = runner.invoke(cli, ["check", str(ICE_CREAM), "--all-paths", str(tmp_path / "golden")])

    assert shown.exit_code == 0 and shown.stdout == TELEGRAM_TRANSCRIPT
    assert written.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "golden").iterdir()) == [
        "ice-cream.path-001.console.txt",
        "ice-cream.path-002.console.txt",
    ]


# --- the walk against brute force on random surveys -------------------------------------------------

KIND_DOMAINS: dict[str, list[AnswerValue]] = {
    "yes_no": [True, False],
    "single_choice": ["a", "b", "c"],
    "rating": [1, 2, 3],
    "number": list(range(-2, 6)),
    "multi_choice": [list(c) for n in (1, 2, 3) for c in itertools.combinations("abc", n)],
}
KIND_FIELDS = {
    "yes_no": "",
    "single_choice": "\n    choices: [A, B, C]",
    "rating": "\n    max: 3",
    "number": "\n    min: -2\n    max: 5\n    integer: true",
    "multi_choice": "\n    choices: [A, B, C]",
}


@st.composite
def random_surveys(draw: st.DrawFn) -> tuple[Survey, dict[str, list[AnswerValue]]]:
    """Up to six questions of five kinds, some optional, with random show_ifs and next rules comparing
    earlier answers with random literals (some of which no answer takes)."""
    count = draw(st.integers(2, 6))
    kinds = [draw(st.sampled_from(sorted(KIND_DOMAINS))) for _ in range(count)]
    literals = {
        "yes_no": ["true", "false", "null"],
        "single_choice": ["'a'", "'b'", "'c'", "'z'", "['a', 'c']"],
        "rating": ["1", "2", "3", "4"],
        "number": ["-1", "0", "2.5", "5", "9"],
    }

    def condition(before: int) -> str:
        name = draw(st.integers(0, before - 1))
        kind = kinds[name]
        if kind == "multi_choice":
            picked = draw(st.sampled_from(["'a'", "'c'", "'z'"]))
            test = draw(
                st.sampled_from(
                    [f"{picked} in q{name}", f"{picked} not in q{name}", f"q{name} == ['a', 'b']"]
                )
            )
        else:
            literal = draw(st.sampled_from(literals[kind]))
            op = "in" if literal.startswith("[") else draw(st.sampled_from(["==", "!=", "<", ">=", "!="]))
            alike = [n for n in range(before) if n != name and kinds[n] == kind]
            if alike and not literal.startswith("[") and draw(st.booleans()):
                literal = f"q{draw(st.sampled_from(alike))}"  # one answer compared with another
            test = f"q{name} {op} {literal}"
        if draw(st.booleans()):
            test = f"not ({test})"
        return test

    lines = ["id: random", "title: Random", "questions:"]
    domains: dict[str, list[AnswerValue]] = {}
    for n, kind in enumerate(kinds):
        optional = draw(st.booleans())
        domains[f"q{n}"] = KIND_DOMAINS[kind] + ([None] if optional else [])
        lines.append(f"  - id: q{n}\n    type: {kind}\n    text: Q{n}?{KIND_FIELDS[kind]}")
        if optional:
            lines.append("    required: false")
        if n and draw(st.booleans()):
            lines.append(f'    show_if: "{condition(n)}"')
        if n + 1 < count and draw(st.booleans()):
            target = draw(st.sampled_from([f"q{t}" for t in range(n + 1, count)] + ["end"]))
            lines.append(f'    next:\n      - {{if: "{condition(n + 1)}", goto: {target}}}')
    return load_text("\n".join(lines) + "\n"), domains


@settings(max_examples=150, deadline=None)
@given(random_surveys())
def test_the_walk_agrees_with_brute_force_on_random_surveys(
    drawn: tuple[Survey, dict[str, list[AnswerValue]]],
) -> None:
    s, domains = drawn
    expected = brute_force(s, domains)

    analysis = analyse(s)

    assert set(analysis.paths.questions) == expected
    asked = {q for path in expected for q in path}
    never = {f.question for f in analysis.findings if f.code in ("unreachable", "show-if-always-false")}
    # (a question never asked is said once: unreachable, or the show_if that always hides it)
    assert never == {q.id for q in s.questions} - asked


def test_each_language_is_checked() -> None:
    body = """\
        id: s
        languages: [en, de]
        title: {en: S, de: S}
        questions:
          - id: nick
            type: text
            required: false
            text: {en: "Nickname?", de: "Spitzname?"}
          - id: dish
            type: text
            max_length: 2000
            text: {en: "What do you want?", de: "Was möchten Sie, {nick}? {nick}, {nick}?"}
        """

    findings = check_survey(survey(body)).findings

    assert [(f.code, f.line, f.message.split(":")[0]) for f in findings] == [
        ("placeholder-unanswered", 12, "text (de)"),
        ("slack-section", 12, "(de) text"),
        ("telegram-text", 12, "(de) text"),
    ]
