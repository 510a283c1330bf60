"""The Slack adapter's edges: real Slack payloads to the engine's incoming messages, and back.

The payloads are shaped as Slack sends them (Events API envelopes, ``block_actions``, slash command
forms), trimmed of nothing the adapter reads.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.bootstrap import App
from adapters.config import Config
from adapters.slack import (
    COMMANDS,
    EVENTS,
    PLATFORM,
    FileShare,
    FileShared,
    action_incoming,
    command_incoming,
    dm_link,
    file_share,
    file_shared,
    home_opened,
    message_incoming,
    ticked,
    unformat,
)
from adapters.slack.admin import trusted_file_url
from adapters.slack.blocks import render
from adapters.stores.memory import InMemoryResponseStore, InMemorySessionStore, InMemorySurveyStore
from bot.catalog import SurveyCache, publish
from bot.engine import Engine
from bot.errors import DefinitionError
from bot.loader import load_bytes, load_text
from bot.messages import Incoming, Kind, Outgoing
from bot.responses import respondent_key
from bot.states import Standing

ROOT = Path(__file__).resolve().parents[2]

MESSAGE_IM: dict[str, Any] = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T0001",
    "api_app_id": "A0SURVEY1",
    "event": {
        "client_msg_id": "5a3e6ec6-9f5b-4a1e-9f0c-0d5b4b0c1e2f",
        "type": "message",
        "text": "start ice-cream",
        "user": "U0RESPOND",
        "ts": "1700000000.000200",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "x1Yz",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "start ice-cream"}]}
                ],
            }
        ],
        "team": "T0001",
        "channel": "D0DIRECT1",
        "event_ts": "1700000000.000200",
        "channel_type": "im",
    },
    "type": "event_callback",
    "event_id": "Ev06ABCDEF",
    "event_time": 1700000000,
    "authorizations": [
        {
            "enterprise_id": None,
            "team_id": "T0001",
            "user_id": "U0BOTUSER",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ],
    "is_ext_shared_channel": False,
    "event_context": "4-eyJldCI6Im1lc3NhZ2UiLCJ0aWQiOiJUMDAwMSJ9",
}


def with_event(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed["event"].update(changes)
    return changed


QUESTION_MESSAGE: dict[str, Any] = {
    "type": "message",
    "subtype": "bot_message",
    "text": "Which flavour of ice cream do you prefer?",
    "ts": "1700000001.000300",
    "bot_id": "B0SURVEY1",
    "app_id": "A0SURVEY1",
    "blocks": [
        {
            "type": "section",
            "block_id": "q1",
            "text": {
                "type": "mrkdwn",
                "text": "Which flavour of ice cream do you prefer?",
                "verbatim": False,
            },
        },
        {
            "type": "actions",
            "block_id": "answers-0",
            "elements": [
                {
                    "type": "button",
                    "action_id": "sb:answer:0",
                    "text": {"type": "plain_text", "text": "Vanilla", "emoji": True},
                    "value": "a:4f2a1c:flavour:0",
                },
                {
                    "type": "button",
                    "action_id": "sb:answer:1",
                    "text": {"type": "plain_text", "text": "Chocolate", "emoji": True},
                    "value": "a:4f2a1c:flavour:1",
                },
            ],
        },
    ],
}

BLOCK_ACTIONS_BUTTON: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "U0RESPOND", "username": "ann", "name": "ann", "team_id": "T0001"},
    "api_app_id": "A0SURVEY1",
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "container": {
        "type": "message",
        "message_ts": "1700000001.000300",
        "channel_id": "D0DIRECT1",
        "is_ephemeral": False,
    },
    "trigger_id": "6187196412470.1234567890.abcdef0123456789",
    "team": {"id": "T0001", "domain": "example"},
    "enterprise": None,
    "is_enterprise_install": False,
    "channel": {"id": "D0DIRECT1", "name": "directmessage"},
    "message": QUESTION_MESSAGE,
    "state": {"values": {}},
    "response_url": "https://hooks.slack.com/actions/T0001/6187196412470/abc",
    "actions": [
        {
            "action_id": "sb:answer:1",
            "block_id": "answers-0",
            "text": {"type": "plain_text", "text": "Chocolate", "emoji": True},
            "value": "a:4f2a1c:flavour:1",
            "type": "button",
            "action_ts": "1700000002.123456",
        }
    ],
}


def option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}


RED, GREEN, BLUE = (option(c, f"t:4f2a1c:colours:{i}") for i, c in enumerate(("Red", "Green", "Blue")))

CHECKBOX_MESSAGE: dict[str, Any] = {
    "type": "message",
    "subtype": "bot_message",
    "text": "Which colours?",
    "ts": "1700000003.000100",
    "bot_id": "B0SURVEY1",
    "blocks": [
        {"type": "section", "block_id": "t0", "text": {"type": "mrkdwn", "text": "Which colours?"}},
        {
            "type": "actions",
            "block_id": "toggles-0-1",
            "elements": [
                {
                    "type": "checkboxes",
                    "action_id": "sb:toggle:0",
                    "options": [RED, GREEN, BLUE],
                    "initial_options": [RED],
                }
            ],
        },
        {
            "type": "actions",
            "block_id": "commands-0",
            "elements": [
                {
                    "type": "button",
                    "action_id": "sb:command:0",
                    "text": {"type": "plain_text", "text": "Submit"},
                    "value": "d:4f2a1c:colours",
                    "style": "primary",
                }
            ],
        },
    ],
}

BLOCK_ACTIONS_CHECKBOXES: dict[str, Any] = {
    **BLOCK_ACTIONS_BUTTON,
    "container": {
        "type": "message",
        "message_ts": "1700000003.000100",
        "channel_id": "D0DIRECT1",
        "is_ephemeral": False,
    },
    "message": CHECKBOX_MESSAGE,
    "state": {
        "values": {"toggles-0-1": {"sb:toggle:0": {"type": "checkboxes", "selected_options": [RED, BLUE]}}}
    },
    "actions": [
        {
            "type": "checkboxes",
            "action_id": "sb:toggle:0",
            "block_id": "toggles-0-1",
            "selected_options": [RED, BLUE],
            "action_ts": "1700000004.000001",
        }
    ],
}

SLASH_COMMAND: dict[str, Any] = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T0001",
    "team_domain": "example",
    "channel_id": "C0GENERAL",
    "channel_name": "general",
    "user_id": "U0RESPOND",
    "user_name": "ann",
    "command": "/survey",
    "text": " Ice-Cream ",
    "api_app_id": "A0SURVEY1",
    "is_enterprise_install": "false",
    "response_url": "https://hooks.slack.com/commands/T0001/123/abc",
    "trigger_id": "6187196412471.1234567890.fedcba9876543210",
}

APP_HOME_OPENED: dict[str, Any] = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T0001",
    "api_app_id": "A0SURVEY1",
    "event": {
        "type": "app_home_opened",
        "user": "U0RESPOND",
        "channel": "D0DIRECT1",
        "tab": "home",
        "view": {"id": "V0HOME", "team_id": "T0001", "type": "home", "blocks": []},
        "event_ts": "1700000005.000100",
    },
    "type": "event_callback",
    "event_id": "Ev06HOME01",
    "event_time": 1700000005,
}

FILE_SHARED: dict[str, Any] = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T0001",
    "api_app_id": "A0SURVEY1",
    "event": {
        "type": "file_shared",
        "channel_id": "D0DIRECT1",
        "file_id": "F0SURVEY1",
        "user_id": "U0ADMIN01",
        "file": {"id": "F0SURVEY1"},
        "event_ts": "1700000006.000200",
    },
    "type": "event_callback",
    "event_id": "Ev06FILE01",
    "event_time": 1700000006,
}


# --- events and interactions to the engine's incoming messages -----------------------------------------


def test_a_direct_message_is_text_from_the_user_in_their_dm_keyed_by_event_id() -> None:
    assert message_incoming(MESSAGE_IM) == Incoming(
        platform=PLATFORM,
        user_id="U0RESPOND",
        chat_id="D0DIRECT1",
        text="start ice-cream",
        update_id="Ev06ABCDEF",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"subtype": "message_changed", "message": {"text": "edited"}},
        {"subtype": "message_deleted", "previous_message": {"text": "gone"}},
        {"subtype": "file_share"},
        {"subtype": "bot_message", "bot_id": "B0OTHER"},
        {"bot_id": "B0SURVEY1"},
        {"channel_type": "channel", "channel": "C0GENERAL"},
        {"channel_type": "mpim"},
        {"text": "   "},
    ],
    ids=["edit", "deletion", "file-share", "bot-message", "own-message", "channel", "group-dm", "blank"],
)
def test_what_the_bot_ignores(changes: dict[str, Any]) -> None:
    assert message_incoming(with_event(MESSAGE_IM, **changes)) is None


def test_slack_formatting_is_undone() -> None:
    assert unformat("<mailto:ada@example.org|ada@example.org>") == "ada@example.org"
    assert unformat("<mailto:ada@example.org>") == "ada@example.org"
    assert (
        unformat("see <https://example.org|example.org> &amp; <https://x.y>")
        == "see example.org & https://x.y"
    )
    assert unformat("a &lt; b &gt; c, <!here>") == "a < b > c, @here"
    email = with_event(MESSAGE_IM, text="<mailto:ada@example.org|ada@example.org>")
    assert message_incoming(email) is not None
    assert message_incoming(email).text == "ada@example.org"  # type: ignore[union-attr]


def test_a_button_press_carries_the_engine_value_the_message_ts_and_the_trigger_id() -> None:
    action = BLOCK_ACTIONS_BUTTON["actions"][0]
    assert action_incoming(BLOCK_ACTIONS_BUTTON, action) == Incoming(
        platform=PLATFORM,
        user_id="U0RESPOND",
        chat_id="D0DIRECT1",
        button="a:4f2a1c:flavour:1",
        update_id="6187196412470.1234567890.abcdef0123456789",
        message_id="1700000001.000300",
    )


def test_a_home_tab_button_has_no_message_and_no_channel() -> None:
    body = {
        **BLOCK_ACTIONS_BUTTON,
        "container": {"type": "view", "view_id": "V0HOME"},
        "view": {"id": "V0HOME", "type": "home"},
        "actions": [{**BLOCK_ACTIONS_BUTTON["actions"][0], "value": "/start ice-cream"}],
    }
    del body["channel"], body["message"]
    incoming = action_incoming(body, body["actions"][0])
    assert incoming is not None
    assert (incoming.button, incoming.chat_id, incoming.message_id) == ("/start ice-cream", "", None)


def test_checkboxes_report_the_question_and_every_choice_ticked_now() -> None:
    toggle, picked = ticked(BLOCK_ACTIONS_CHECKBOXES, BLOCK_ACTIONS_CHECKBOXES["actions"][0])
    assert toggle == RED["value"]
    assert picked == (0, 2)


def test_a_submit_press_reads_the_checkboxes_from_the_state() -> None:
    submit = {
        "type": "button",
        "action_id": "sb:command:0",
        "block_id": "commands-0",
        "value": "d:4f2a1c:colours",
        "action_ts": "1700000004.000002",
    }
    body = {**BLOCK_ACTIONS_CHECKBOXES, "actions": [submit]}
    assert ticked(body, submit) == (RED["value"], (0, 2))
    # No state for a group (never touched): what it showed is what is picked.
    assert ticked({**body, "state": {"values": {}}}, submit) == (RED["value"], (0,))


def test_the_slash_command_starts_the_survey_in_the_users_dm() -> None:
    assert command_incoming(SLASH_COMMAND, "D0DIRECT1") == Incoming(
        platform=PLATFORM,
        user_id="U0RESPOND",
        chat_id="D0DIRECT1",
        command="start",
        text="Ice-Cream",
        update_id="6187196412471.1234567890.fedcba9876543210",
    )
    assert (
        dm_link(SLASH_COMMAND)
        == "<slack://app?team=T0001&id=A0SURVEY1&tab=messages|a direct message with me>"
    )


def test_app_home_opened_on_the_home_tab_only() -> None:
    assert home_opened(APP_HOME_OPENED) == ("U0RESPOND", "D0DIRECT1")
    assert home_opened(with_event(APP_HOME_OPENED, tab="messages")) is None


def test_a_file_share_in_the_dm_names_its_files() -> None:
    event = {
        **MESSAGE_IM["event"],
        "subtype": "file_share",
        "text": "",
        "files": [{"id": "F1", "name": "IMG_0001.JPG"}, {"id": "F2", "title": "Lunch.YML"}],
    }
    shared = file_share({**MESSAGE_IM, "event": event})
    assert shared == FileShare("U0RESPOND", "D0DIRECT1", ("IMG_0001.JPG", "Lunch.YML"), "Ev06ABCDEF")
    assert shared.maybe_survey(), "a .yml among the files makes it an upload"
    assert not replace(shared, names=("IMG_0001.JPG",)).maybe_survey()
    assert shared.incoming().attachment and shared.incoming().text == ""
    assert file_share({**MESSAGE_IM, "event": {**event, "channel_type": "channel"}}) is None
    assert file_share({**MESSAGE_IM, "event": {**event, "bot_id": "B0SURVEY1"}}) is None
    assert file_share(MESSAGE_IM) is None, "typed text is no file share"


def test_file_shared_in_the_dm_only() -> None:
    assert file_shared(FILE_SHARED) == FileShared("U0ADMIN01", "D0DIRECT1", "F0SURVEY1", "Ev06FILE01")
    assert file_shared(with_event(FILE_SHARED, channel_id="C0GENERAL")) is None


# --- the engine behind the edges (in-memory stores) ---------------------------------------------------

COLOURS = """
id: colours
title: Colours
settings: {one_response_per_user: false}
questions:
  - id: colours
    type: multi_choice
    text: Which colours?
    choices: [Red, Green, Blue]
"""


async def memory_app(*sources: str) -> App:
    surveys, responses, sessions = InMemorySurveyStore(), InMemoryResponseStore(), InMemorySessionStore()
    for source in sources:
        await publish(surveys, load_text(source))
    cache = SurveyCache(surveys)
    engine = Engine(cache, responses, sessions, b"unit-secret")
    return App(Config(), surveys, responses, sessions, cache, engine)


def selected(out: Outgoing) -> list[str]:
    return [b.label for b in out.choices if b.selected]


async def test_what_the_checkboxes_show_is_one_engine_call_for_a_change_and_one_for_submit() -> None:
    app = await memory_app(COLOURS)
    start = Incoming(PLATFORM, "U1", chat_id="D1", text="start colours", update_id="e1")
    asked = next(o for o in await app.engine.handle(start) if o.kind is Kind.QUESTION)
    red = asked.choices[0].value
    [done] = [b.value for b in asked.actions if b.label == "Done"]
    base = Incoming(PLATFORM, "U1", chat_id="D1", message_id="ts1")

    out = await app.engine.handle(replace(base, button=red, picked=(0, 2), update_id="t1"))
    assert [o.kind for o in out] == [Kind.SELECTION] and selected(out[0]) == ["Red", "Blue"]
    # A quick second click, whatever the message showed: the engine takes the whole set again.
    out = await app.engine.handle(replace(base, button=red, picked=(0, 1, 2), update_id="t2"))
    assert selected(out[0]) == ["Red", "Green", "Blue"]

    out = await app.engine.handle(replace(base, button=done, picked=(1,), update_id="t3"))
    assert [o.kind for o in out][:1] == [Kind.ANSWERED]
    response = await app.responses.find("colours", app.engine.respondent_key(PLATFORM, "U1"))
    assert response is not None and response.values() == {"colours": ["green"]}


async def test_toggling_an_answered_question_returns_the_notice() -> None:
    app = await memory_app(COLOURS)
    asked = next(
        o
        for o in await app.engine.handle(Incoming(PLATFORM, "U1", chat_id="D1", text="start colours"))
        if o.kind is Kind.QUESTION
    )
    await app.engine.handle(Incoming(PLATFORM, "U1", chat_id="D1", text="1"))
    late = Incoming(PLATFORM, "U1", chat_id="D1", update_id="late", message_id="ts1")
    out = await app.engine.handle(replace(late, button=asked.choices[1].value, picked=(1,)))
    assert [o.kind for o in out] == [Kind.NOTICE]


def replace_id(incoming: Incoming, update_id: str) -> Incoming:
    return replace(incoming, update_id=update_id)


ICE_CREAM = (ROOT / "surveys" / "ice-cream.yaml").read_text(encoding="utf-8")


async def test_the_engine_tells_the_key_it_stores_a_respondent_under() -> None:
    app = await memory_app(ICE_CREAM)
    await app.engine.handle(Incoming(PLATFORM, "U1", chat_id="D1", text="start ice-cream"))
    key = app.engine.respondent_key(PLATFORM, "U1")
    assert key == respondent_key(b"unit-secret", PLATFORM, "U1")
    assert await app.responses.find("ice-cream", key) is not None


async def test_the_engine_says_where_a_respondent_stands_with_each_survey() -> None:
    app = await memory_app(ICE_CREAM, COLOURS)
    assert {e.survey_id: e.standing for e in await app.engine.standings(PLATFORM, "U1")} == {
        "colours": Standing.NEW,
        "ice-cream": Standing.NEW,
    }
    for text in ("start ice-cream", "2", "no", "start colours"):
        await app.engine.handle(Incoming(PLATFORM, "U1", chat_id="D1", text=text))
    assert {e.survey_id: e.standing for e in await app.engine.standings(PLATFORM, "U1")} == {
        "colours": Standing.IN_PROGRESS,
        "ice-cream": Standing.COMPLETED,
    }
    await app.engine.handle(Incoming(PLATFORM, "U1", chat_id="D1", text="1"))
    assert {e.survey_id: e.standing for e in await app.engine.standings(PLATFORM, "U1")}[
        "colours"
    ] is Standing.COMPLETED_AGAIN
    assert {e.standing for e in await app.engine.standings(PLATFORM, "U2")} == {Standing.NEW}


def test_render_is_importable_for_each_kind() -> None:
    for kind in Kind:
        if kind is not Kind.NOTICE:
            assert render(Outgoing(chat_id="D1", text="x", kind=kind)).blocks


# --- the manifest -------------------------------------------------------------------------------------

NEEDED_SCOPES = {
    "app_mentions:read": "the app_mention event",
    "chat:write": "chat.postMessage, chat.update, chat.postEphemeral",
    "commands": "the slash commands",
    "files:read": "the file_shared event, files.info and the download of a survey file",
    "files:write": "uploading result charts",
    "im:history": "the message.im event",
    "im:write": "conversations.open",
    "users:read": "users.info (names, and time zones for campaigns)",
    "channels:read": "conversations.members of a public channel (a campaign's audience)",
    "groups:read": "conversations.members of a private channel the app is in",
    "usergroups:read": "usergroups.users.list (a campaign's audience)",
}


def test_the_manifest_asks_for_exactly_what_the_adapter_uses() -> None:
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(NEEDED_SCOPES)
    settings = manifest["settings"]
    events = {"message.im" if e == "message" else e for e in EVENTS}
    assert set(settings["event_subscriptions"]["bot_events"]) == events
    assert settings["interactivity"]["is_enabled"] is True
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == set(COMMANDS)
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert home["messages_tab_read_only_enabled"] is False


# --- admin uploads --------------------------------------------------------------------------------------


def test_the_bot_token_goes_only_to_slacks_file_hosts() -> None:
    api = "https://slack.com/api/"
    assert trusted_file_url("https://files.slack.com/files-pri/T0001-F1/download/a.yaml", api)
    assert not trusted_file_url("http://files.slack.com/files-pri/T0001-F1/download/a.yaml", api)
    assert not trusted_file_url("https://files.slack.com.evil.example/a.yaml", api)
    assert not trusted_file_url("https://evil.example/?slack.com", api)
    assert trusted_file_url("http://127.0.0.1:9001/files-pri/a.yaml", "http://127.0.0.1:9001/api/")
    assert not trusted_file_url("http://127.0.0.1:9002/files-pri/a.yaml", "http://127.0.0.1:9001/api/")


def test_an_uploaded_file_is_read_like_a_file_on_disk() -> None:
    assert load_bytes(("\ufeff" + ICE_CREAM).encode(), "ice-cream.yaml").id == "ice-cream"
    with pytest.raises(DefinitionError) as refused:
        load_bytes(b"id: x\ntitle: \xff\n", "x.yaml")
    assert [str(p) for p in refused.value.problems] == ["x.yaml:2: the file is not UTF-8 text (byte 0xff)"]
