"""Block Kit for the Slack adapter: the engine's outgoing messages and the App Home view as JSON.

Pure functions, no I/O. Everything produced stays inside Slack's published limits (blocks per message
or view, elements per actions block, options per checkbox group, text lengths), and every text that
came from a survey or a respondent is escaped, so that an answer echoed back can never turn into a
``<!channel>`` ping or a link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import texts
from bot.i18n import speaking
from bot.messages import Button, Kind, Outgoing, Role, Topic
from bot.states import Standing, SurveyStanding

# Slack's limits (https://docs.slack.dev/reference/block-kit/).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_OPTION_VALUE = 150
MAX_ACTION_ELEMENTS = 25
MAX_CHECKBOX_OPTIONS = 10
MAX_FALLBACK_TEXT = 4000
"""Slack cuts a message's ``text`` at 40,000 characters and advises at most 4,000."""
MAX_ANSWER_BLOCKS = 4
"""At most this many actions blocks of answer buttons (100 buttons); beyond, the respondent types."""

ACTION_PREFIX = "sb:"
"""Every ``action_id`` this adapter renders starts with it; one listener takes them all."""
ANSWER, TOGGLE, COMMAND, HOME = "sb:answer", "sb:toggle", "sb:command", "sb:home"

Block = dict[str, Any]

_COMMAND_WORDS = re.compile(
    r"(?<![\w/])/(start|surveys|back|skip|restart|stop|help|optout|optin|language|link|unlink)\b"
)
SLACK_HELP = texts.SLACK_HELP


@dataclass(frozen=True)
class SlackMessage:
    """What ``chat.postMessage``/``chat.update`` take: fallback ``text`` and ``blocks``."""

    text: str
    blocks: list[Block]


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its formatting rules require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_words(text: str) -> str:
    """The engine's ``/start``-style hints as bare words: Slack keeps typed ``/commands`` for itself."""
    return _COMMAND_WORDS.sub(r"\1", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(escaped: str, limit: int) -> list[str]:
    """``escaped`` cut into pieces of at most ``limit`` characters, at a line end where there is one,
    never inside an ``&amp;``-style entity."""
    pieces: list[str] = []
    rest = escaped
    while len(rest) > limit:
        cut = rest.rfind("\n", limit // 2, limit + 1)
        if cut == -1:
            cut = limit
            amp = rest.rfind("&", cut - 4, cut)
            if amp != -1 and ";" not in rest[amp:cut]:
                cut = amp
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def text_blocks(text: str, budget: int) -> list[Block]:
    """``text`` as mrkdwn sections of at most 3,000 characters, at most ``budget`` of them."""
    pieces = _chunks(escape(text), MAX_SECTION_TEXT) or [""]
    if len(pieces) > budget:
        pieces = pieces[: max(budget, 1)]
        pieces[-1] = _cut(pieces[-1], MAX_SECTION_TEXT - 1) + "…"
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece or " "}} for piece in pieces]


def code_blocks(text: str, budget: int) -> list[Block]:
    """``text`` as preformatted sections (each fenced on its own), at most ``budget`` of them."""
    pieces = _chunks(escape(text), MAX_SECTION_TEXT - 6) or [""]
    if len(pieces) > budget:
        pieces = pieces[: max(budget, 1)]
        pieces[-1] = _cut(pieces[-1], MAX_SECTION_TEXT - 7) + "…"
    return [{"type": "section", "text": {"type": "mrkdwn", "text": f"```{p}```"}} for p in pieces]


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def button(label: str, value: str, action_id: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": _plain(label, MAX_BUTTON_TEXT),
        "value": value[:MAX_BUTTON_VALUE],
        "action_id": action_id,
    }
    if style is not None:
        element["style"] = style
    return element


def _command_button(b: Button, i: int) -> Block:
    if b.role is Role.SUBMIT:
        return button("Submit", b.value, f"{COMMAND}:{i}", "primary")
    return button(b.label, b.value, f"{COMMAND}:{i}")


def _option(b: Button) -> Block:
    return {"text": _plain(b.label, MAX_OPTION_TEXT), "value": b.value[:MAX_OPTION_VALUE]}


def _answer_blocks(choices: Sequence[Button], multi: bool) -> list[Block]:
    if multi:
        blocks = []
        for n, start in enumerate(range(0, len(choices), MAX_CHECKBOX_OPTIONS)):
            group = choices[start : start + MAX_CHECKBOX_OPTIONS]
            element: Block = {
                "type": "checkboxes",
                "action_id": f"{TOGGLE}:{n}",
                "options": [_option(b) for b in group],
            }
            picked = [_option(b) for b in group if b.selected]
            if picked:
                element["initial_options"] = picked
            # The block id changes with the selection, so that Slack shows the re-rendered state.
            mask = sum(1 << i for i, b in enumerate(group) if b.selected)
            blocks.append({"type": "actions", "block_id": f"toggles-{n}-{mask:x}", "elements": [element]})
        return blocks
    return [
        {
            "type": "actions",
            "block_id": f"answers-{n}",
            "elements": [
                button(b.label, b.value, f"{ANSWER}:{start + i}")
                for i, b in enumerate(choices[start : start + MAX_ACTION_ELEMENTS])
            ],
        }
        for n, start in enumerate(range(0, len(choices), MAX_ACTION_ELEMENTS))
    ]


def _command_blocks(actions: Sequence[Button]) -> list[Block]:
    return [
        {
            "type": "actions",
            "block_id": f"commands-{n}",
            "elements": [
                _command_button(b, start + i)
                for i, b in enumerate(actions[start : start + MAX_ACTION_ELEMENTS])
            ],
        }
        for n, start in enumerate(range(0, len(actions), MAX_ACTION_ELEMENTS))
    ]


def render(message: Outgoing) -> SlackMessage:
    """A question, an answered question, a selection, an info or an error message as Block Kit."""
    text = slack_words(message.text)
    if message.topic is Topic.HELP:
        text = f"{text}\n{speaking(message.language).gettext(SLACK_HELP)}"
    extra: list[Block] = []
    if message.kind in (Kind.QUESTION, Kind.SELECTION):
        answers = _answer_blocks(message.choices, message.multi)
        if len(answers) <= MAX_ANSWER_BLOCKS:
            extra += answers
        if message.hint and (not message.choices or len(answers) > MAX_ANSWER_BLOCKS):
            extra.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(message.hint)}]})
        commands = message.actions
        if len(answers) > MAX_ANSWER_BLOCKS and message.multi:
            commands = tuple(b for b in commands if b.role is not Role.SUBMIT)
        extra += _command_blocks(commands)
    elif message.kind not in (Kind.ANSWERED, Kind.RETIRED):
        extra += _command_blocks(message.actions + message.choices)
    extra = extra[: MAX_MESSAGE_BLOCKS - 1]
    blocks = text_blocks(text, MAX_MESSAGE_BLOCKS - len(extra)) + extra
    return SlackMessage(_cut(escape(text), MAX_FALLBACK_TEXT), blocks)


def notice_text(message: Outgoing) -> str:
    """An ephemeral notice (``chat.postEphemeral``) is plain text."""
    return _cut(escape(slack_words(message.text)), MAX_FALLBACK_TEXT)


# --- App Home ----------------------------------------------------------------------------------------


_STANDING = {
    Standing.NEW: ("", "Start"),
    Standing.IN_PROGRESS: ("In progress: your answers so far are saved.", "Resume"),
    Standing.COMPLETED: ("✓ Completed. Thank you!", None),
    Standing.COMPLETED_AGAIN: ("✓ Completed before; you may answer again.", "Take again"),
}


def home_view(entries: Sequence[SurveyStanding]) -> Block:
    """The App Home tab: the surveys the user can take, with Start buttons, and the ones they finished."""
    blocks: list[Block] = [
        {"type": "header", "text": _plain("Surveys", MAX_HEADER_TEXT)},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "A survey runs in the Messages tab of this app, one question at a time. "
                    "There you can also type `surveys`, `back`, `skip`, `stop` or `help`.",
                }
            ],
        },
    ]
    if not entries:
        blocks += text_blocks(texts.NO_SURVEYS, 1)
    room = MAX_VIEW_BLOCKS - len(blocks) - 1
    for i, entry in enumerate(entries[:room]):
        note, label = _STANDING[entry.standing]
        body = f"*{escape(entry.title)}*" + (f"\n{escape(note)}" if note else "")
        section: Block = {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, MAX_SECTION_TEXT)}}
        if label is not None:
            section["accessory"] = button(label, f"/start {entry.survey_id}", f"{HOME}:{i}", "primary")
        blocks.append(section)
    if len(entries) > room:
        more = f"…and {len(entries) - room} more: type `surveys` in the Messages tab."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"type": "home", "blocks": blocks}
