"""The web chat adapter's two halves: client frames in, neutral outgoing messages rendered as frames."""

from __future__ import annotations

import pytest

from adapters.web import identity
from adapters.web.chat import (
    ButtonFrame,
    TextFrame,
    clean_name,
    error_frame,
    parse_frame,
    render,
    reply_frame,
    to_incoming,
)
from bot.messages import Button, Incoming, Kind, Outgoing, Role
from bot.survey import QuestionType


def test_text_frame() -> None:
    frame = parse_frame('{"type": "text", "text": "Chocolate", "id": "c1"}')
    assert frame == TextFrame(type="text", text="Chocolate", id="c1")
    incoming = to_incoming(frame, "resp-0001", "Ann")
    assert incoming == Incoming(
        platform="web",
        user_id="resp-0001",
        user_name="Ann",
        chat_id="resp-0001",
        text="Chocolate",
        update_id=incoming.update_id,
    )
    assert incoming.update_id is not None and "resp-0001" not in incoming.update_id, "no respondent id"
    assert to_incoming(frame, "resp-0001", "Ann").update_id == incoming.update_id, (
        "the same frame, the same id"
    )
    assert to_incoming(frame, "resp-0002", "Bo").update_id != incoming.update_id, "unique per respondent"


def test_button_frame_without_client_id() -> None:
    frame = parse_frame('{"type": "button", "value": "a:abc123:flavour:1", "message_id": "m7"}')
    assert isinstance(frame, ButtonFrame)
    incoming = to_incoming(frame, "resp-0001", "")
    assert (incoming.button, incoming.message_id, incoming.text, incoming.update_id) == (
        "a:abc123:flavour:1",
        "m7",
        "",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("hello", "Invalid JSON"),
        ('{"type": "voice"}', "does not match any of the expected tags"),
        ('{"type": "text"}', "text: Field required"),
        ('{"type": "text", "text": "x", "extra": 1}', "extra: Extra inputs are not permitted"),
        ('{"type": "button", "value": 3}', "button.value: Input should be a valid string"),
        ('{"type": "text", "text": "' + "x" * 4001 + '"}', "at most 4000 characters"),
    ],
)
def test_bad_frames_say_what_is_wrong(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_frame(raw)


def test_respondent_ids_are_issued_and_signed_and_names_cleaned() -> None:
    key, other = identity.web_key(b"deployment"), identity.web_key(b"another deployment")
    issued = identity.issue(key)
    assert identity.verify(key, issued) and len(issued) <= 64
    assert identity.issue(key) != issued, "random"
    assert identity.sign(key, issued[:24]) == issued, "workers sign alike"
    assert not identity.verify(other, issued), "another deployment's id"
    nonce, signature = issued.split(".")
    forged = f"{nonce[:-1]}{'0' if nonce[-1] != '0' else '1'}.{signature}"
    for refused in (forged, "0123456789abcdef", "short", "has space in it", issued.upper(), issued + "0", ""):
        assert not identity.verify(key, refused), refused
    assert clean_name("  Ann\x00\n Lee  ") == "Ann Lee"
    assert len(clean_name("x" * 100)) == 64


def test_render_question() -> None:
    message = Outgoing(
        chat_id="resp-0001",
        text="Toppings?",
        kind=Kind.QUESTION,
        choices=(
            Button("Nuts", "t:abc:toppings:0", True, Role.TOGGLE),
            Button("Sauce", "t:abc:toppings:1", role=Role.TOGGLE),
        ),
        actions=(Button("Done", "d:abc:toppings", role=Role.SUBMIT), Button("Back", "/back", role=Role.BACK)),
        multi=True,
        question_type=QuestionType.MULTI_CHOICE,
        question_id="toppings",
        hint="Please reply with the numbers of your choices, separated by commas.",
    )
    assert render(message, "m1") == {
        "id": "m1",
        "kind": "question",
        "text": "Toppings?",
        "choices": [
            {"label": "Nuts", "value": "t:abc:toppings:0", "selected": True, "role": "toggle"},
            {"label": "Sauce", "value": "t:abc:toppings:1", "selected": False, "role": "toggle"},
        ],
        "actions": [
            {"label": "Done", "value": "d:abc:toppings", "selected": False, "role": "submit"},
            {"label": "Back", "value": "/back", "selected": False, "role": "back"},
        ],
        "multi": True,
        "question_type": "multi_choice",
        "question_id": "toppings",
        "hint": "Please reply with the numbers of your choices, separated by commas.",
        "edit_of": None,
    }


def test_an_edit_keeps_the_id_of_the_message_it_replaces() -> None:
    edit = Outgoing(chat_id="r", text="Flavour?\n✓ Chocolate", kind=Kind.ANSWERED, edit_of="m1")
    frame = render(edit, "m9")
    assert (frame["id"], frame["edit_of"], frame["kind"], frame["choices"]) == ("m1", "m1", "answered", [])
    plain = render(Outgoing(chat_id="r", text="Hello"), "m2")
    assert (plain["id"], plain["kind"], plain["question_type"]) == ("m2", "info", None)


def test_one_frame_per_turn() -> None:
    frame = reply_frame(
        [Outgoing(chat_id="r", text="Hello"), Outgoing(chat_id="r", text="Q?", kind=Kind.QUESTION)]
    )
    assert frame["type"] == "reply"
    assert [(m["text"], m["kind"]) for m in frame["messages"]] == [("Hello", "info"), ("Q?", "question")]
    assert len({m["id"] for m in frame["messages"]}) == 2
    assert reply_frame([]) == {"type": "reply", "messages": []}
    assert error_frame("bad frame: x") == {"type": "error", "error": "bad frame: x"}
