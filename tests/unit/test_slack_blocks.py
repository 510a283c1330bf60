"""The engine's outgoing messages as Block Kit, inside Slack's limits."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from adapters.slack.blocks import escape, home_view, notice_text, render
from bot import texts
from bot.messages import Button, Kind, Outgoing, Role, Topic
from bot.states import Standing, SurveyStanding
from bot.survey import QuestionType

# Slack's published limits (https://docs.slack.dev/reference/block-kit/).
LIMITS = {
    "message_blocks": 50,
    "view_blocks": 100,
    "section_text": 3000,
    "header_text": 150,
    "context_elements": 10,
    "actions_elements": 25,
    "button_text": 75,
    "button_value": 2000,
    "option_text": 75,
    "option_value": 150,
    "checkbox_options": 10,
    "action_id": 255,
    "block_id": 255,
}


def check_block_kit(blocks: list[dict[str, Any]], max_blocks: int) -> None:
    """Every rule of Slack's that these blocks could break; Slack answers ``invalid_blocks`` otherwise."""
    assert 0 < len(blocks) <= max_blocks
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "block_id must be unique in a message"
    for block in blocks:
        assert len(block.get("block_id", "")) <= LIMITS["block_id"]
        kind = block["type"]
        if kind == "section":
            assert block["text"]["type"] in ("mrkdwn", "plain_text")
            assert 1 <= len(block["text"]["text"]) <= LIMITS["section_text"]
            if "accessory" in block:
                check_element(block["accessory"])
        elif kind == "header":
            assert len(block["text"]["text"]) <= LIMITS["header_text"]
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= LIMITS["context_elements"]
            assert all(len(e["text"]) <= LIMITS["section_text"] for e in block["elements"])
        elif kind == "actions":
            elements = block["elements"]
            assert 1 <= len(elements) <= LIMITS["actions_elements"]
            ids = [e["action_id"] for e in elements]
            assert len(ids) == len(set(ids)), "action_id must be unique in a block"
            for element in elements:
                check_element(element)
        else:
            raise AssertionError(f"unexpected block type {kind}")


def check_element(element: dict[str, Any]) -> None:
    assert len(element["action_id"]) <= LIMITS["action_id"]
    if element["type"] == "button":
        assert element["text"]["type"] == "plain_text"
        assert 1 <= len(element["text"]["text"]) <= LIMITS["button_text"]
        assert len(element["value"]) <= LIMITS["button_value"]
        assert element.get("style") in (None, "primary", "danger")
    elif element["type"] == "checkboxes":
        options = element["options"]
        assert 1 <= len(options) <= LIMITS["checkbox_options"]
        for o in options:
            assert 1 <= len(o["text"]["text"]) <= LIMITS["option_text"]
            assert len(o["value"]) <= LIMITS["option_value"]
        initial = element.get("initial_options")
        assert initial is None or (initial and all(o in options for o in initial))
    else:
        raise AssertionError(f"unexpected element type {element['type']}")


def question(
    qtype: QuestionType,
    labels: list[str],
    *,
    multi: bool = False,
    selected: frozenset[int] = frozenset(),
    actions: tuple[Button, ...] = (),
    text: str = "Which flavour do you prefer?",
    kind: Kind = Kind.QUESTION,
) -> Outgoing:
    prefix = "t" if multi else "a"
    return Outgoing(
        chat_id="D1",
        text=text,
        kind=kind,
        choices=tuple(
            Button(label, f"{prefix}:4f2a1c:q:{i}", selected=i in selected) for i, label in enumerate(labels)
        ),
        actions=actions,
        multi=multi,
        question_type=qtype,
        question_id="q",
        hint="Please reply with the number corresponding to your choice.",
        edit_of="1700000001.000300" if kind is Kind.SELECTION else None,
    )


def elements(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == kind]


def test_single_choice_is_a_row_of_buttons_carrying_the_engine_values() -> None:
    message = render(
        question(
            QuestionType.SINGLE_CHOICE,
            ["Vanilla", "Chocolate"],
            actions=(Button("Back", "/back", role=Role.BACK),),
        )
    )
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    assert message.blocks[0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Which flavour do you prefer?"},
    }
    answers = message.blocks[1]
    assert answers["type"] == "actions"
    assert [(e["text"]["text"], e["value"]) for e in answers["elements"]] == [
        ("Vanilla", "a:4f2a1c:q:0"),
        ("Chocolate", "a:4f2a1c:q:1"),
    ]
    assert [e["value"] for e in message.blocks[2]["elements"]] == ["/back"]
    assert message.text == "Which flavour do you prefer?"
    assert "context" not in json.dumps(message.blocks), "buttons need no typing hint"


@pytest.mark.parametrize(
    ("qtype", "labels"),
    [
        (QuestionType.RATING, ["1 Not at all", "2", "3", "4", "5 Delicious"]),
        (QuestionType.NPS, [str(n) for n in range(11)]),
        (QuestionType.YES_NO, ["Yes", "No"]),
    ],
)
def test_rating_nps_and_yes_no_are_buttons(qtype: QuestionType, labels: list[str]) -> None:
    message = render(question(qtype, labels))
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    assert [e["text"]["text"] for e in elements(message.blocks, "button")] == labels


def test_multi_choice_is_checkboxes_with_the_selection_and_a_submit_button() -> None:
    labels = [f"Choice {n}" for n in range(12)]
    out = question(
        QuestionType.MULTI_CHOICE,
        labels,
        multi=True,
        selected=frozenset({1, 11}),
        actions=(Button("Done", "d:4f2a1c:q", role=Role.SUBMIT), Button("Skip", "/skip", role=Role.SKIP)),
        kind=Kind.SELECTION,
    )
    message = render(out)
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    groups = elements(message.blocks, "checkboxes")
    assert [len(g["options"]) for g in groups] == [10, 2], "at most 10 options per group"
    assert [[o["value"] for o in g.get("initial_options", [])] for g in groups] == [
        ["t:4f2a1c:q:1"],
        ["t:4f2a1c:q:11"],
    ]
    submit, skip = elements(message.blocks, "button")
    assert (submit["text"]["text"], submit["value"], submit["style"]) == ("Submit", "d:4f2a1c:q", "primary")
    assert skip["value"] == "/skip"
    # A different selection gets a different block id, so Slack shows the new state.
    other = render(question(QuestionType.MULTI_CHOICE, labels, multi=True, actions=out.actions))
    assert {b.get("block_id") for b in other.blocks} != {b.get("block_id") for b in message.blocks}
    assert "initial_options" not in json.dumps(other.blocks), "Slack refuses an empty initial_options"


def test_free_text_is_a_plain_prompt_with_the_hint() -> None:
    out = Outgoing(
        chat_id="D1",
        text="When will you arrive?",
        kind=Kind.QUESTION,
        actions=(Button("Skip", "/skip", role=Role.SKIP),),
        question_type=QuestionType.DATE,
        hint="Please reply with a date as YYYY-MM-DD.",
    )
    message = render(out)
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    assert [b["type"] for b in message.blocks] == ["section", "context", "actions"]
    assert message.blocks[1]["elements"][0]["text"] == "Please reply with a date as YYYY-MM-DD."


def test_an_answered_question_keeps_its_text_and_loses_its_buttons() -> None:
    out = Outgoing(chat_id="D1", text="Which flavour?\n✓ Chocolate", kind=Kind.ANSWERED, edit_of="1700.1")
    message = render(out)
    assert message.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Which flavour?\n✓ Chocolate"}}
    ]


def test_info_error_and_notice() -> None:
    listing = Outgoing(
        chat_id="D1",
        text="Which survey would you like to take?\n1. Ice cream (/start ice-cream)",
        actions=(Button("Ice cream", "/start ice-cream", role=Role.START),),
    )
    message = render(listing)
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    assert message.text.endswith("(start ice-cream)"), "Slack keeps typed /commands: the bare word is shown"
    assert elements(message.blocks, "button")[0]["value"] == "/start ice-cream"
    error = render(Outgoing(chat_id="D1", text="Please reply with at most 3 characters.", kind=Kind.ERROR))
    assert [b["type"] for b in error.blocks] == ["section"]
    notice = Outgoing(chat_id="D1", text=texts.ALREADY_ANSWERED, kind=Kind.NOTICE)
    assert notice_text(notice) == texts.ALREADY_ANSWERED
    help_text = render(Outgoing(chat_id="D1", text=texts.HELP, topic=Topic.HELP)).text
    assert "/survey [SURVEY_ID]" in help_text and "\nstart [survey]" in help_text
    german = render(Outgoing(chat_id="D1", text="Hilfe", topic=Topic.HELP, language="de")).text
    assert german == (
        "Hilfe\nIn Slack schreiben Sie diese Wörter ohne Schrägstrich; "
        "aus jedem Kanal startet /survey [SURVEY_ID] eine Umfrage."
    )


def test_texts_are_escaped_so_answers_cannot_ping_or_link() -> None:
    out = Outgoing(chat_id="D1", text="Why <!channel> & <https://evil.example|this>?")
    message = render(out)
    assert (
        message.blocks[0]["text"]["text"] == "Why &lt;!channel&gt; &amp; &lt;https://evil.example|this&gt;?"
    )
    assert message.text == escape(out.text)


def test_long_texts_and_labels_stay_within_the_limits() -> None:
    text = ("A long question & more. " * 400).strip()  # 9,600 characters, ~10,800 escaped
    out = question(
        QuestionType.SINGLE_CHOICE,
        ["L" * 300, *(f"Choice {n}" for n in range(60))],
        text=text,
        actions=tuple(Button(f"Survey {n}", f"/start s{n}", role=Role.START) for n in range(30)),
    )
    message = render(out)
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert "".join(sections).replace("&amp;", "&") == text.replace("\n", "")
    assert not any(s.endswith("&amp") or s.endswith("&") for s in sections[:-1]), "no entity is cut"
    assert len(message.text) <= 4000
    assert elements(message.blocks, "button")[0]["text"]["text"] == "L" * 74 + "…"
    assert len(elements(message.blocks, "button")) == 61 + 30


def test_too_many_choices_for_buttons_are_typed() -> None:
    message = render(question(QuestionType.RATING, [str(n) for n in range(1, 202)]))
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    assert not elements(message.blocks, "button")
    assert message.blocks[-1]["type"] == "context"


def test_a_huge_text_is_cut_to_fifty_blocks() -> None:
    message = render(
        Outgoing(chat_id="D1", text="x" * 200_000, actions=(Button("Back", "/back", role=Role.BACK),))
    )
    check_block_kit(message.blocks, LIMITS["message_blocks"])
    assert len(message.blocks) == 50 and message.blocks[-1]["type"] == "actions"
    assert message.blocks[-2]["text"]["text"].endswith("…")


def test_home_view_lists_surveys_with_start_buttons_and_marks_finished_ones() -> None:
    view = home_view(
        [
            SurveyStanding("ice-cream", "Ice cream preferences", Standing.COMPLETED),
            SurveyStanding("codefest-2025", "CodeFest <2025>", Standing.NEW),
            SurveyStanding("customer-feedback", "Northwind", Standing.IN_PROGRESS),
            SurveyStanding("again", "Again", Standing.COMPLETED_AGAIN),
        ]
    )
    assert view["type"] == "home"
    check_block_kit(view["blocks"], LIMITS["view_blocks"])
    sections = [b for b in view["blocks"] if b["type"] == "section"]
    assert [
        (s["text"]["text"].split("\n")[0], s.get("accessory", {}).get("text", {}).get("text"))
        for s in sections
    ] == [
        ("*Ice cream preferences*", None),
        ("*CodeFest &lt;2025&gt;*", "Start"),
        ("*Northwind*", "Resume"),
        ("*Again*", "Take again"),
    ]
    assert "✓ Completed" in sections[0]["text"]["text"]
    assert sections[1]["accessory"]["value"] == "/start codefest-2025"
    action_ids = Counter(s["accessory"]["action_id"] for s in sections if "accessory" in s)
    assert max(action_ids.values()) == 1


def test_home_view_with_many_or_no_surveys() -> None:
    many = home_view([SurveyStanding(f"s{n}", f"Survey {n}", Standing.NEW) for n in range(150)])
    check_block_kit(many["blocks"], LIMITS["view_blocks"])
    assert "more" in many["blocks"][-1]["elements"][0]["text"]
    empty = home_view([])
    check_block_kit(empty["blocks"], LIMITS["view_blocks"])
    assert texts.NO_SURVEYS in json.dumps(empty["blocks"])
