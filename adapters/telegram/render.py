"""Telegram messages from the engine's: texts cut to what the Bot API takes, and inline keyboards.

Pure functions, no I/O, no wiring: what the adapter sends, and what ``surveybot check`` measures.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Button, Kind, Outgoing, Role
from bot.survey import QuestionType

MAX_TEXT = 4096
"""The Bot API's limit on a message's text."""

_NUMBER = re.compile(r"-?\d+")


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    """Answer buttons in sensible rows, then the command buttons (Done, Back, Skip; surveys to start)."""
    rows = [
        [InlineKeyboardButton(("✓ " if b.selected else "") + b.label, callback_data=b.value) for b in row]
        for row in _rows(message.choices, message.question_type)
    ]
    starts = [b for b in message.actions if b.role is Role.START]
    others = [b for b in message.actions if b not in starts]
    rows += [[InlineKeyboardButton(b.label, callback_data=b.value)] for b in starts]
    if others:
        rows.append([InlineKeyboardButton(b.label, callback_data=b.value) for b in others])
    return InlineKeyboardMarkup(rows) if rows else None


def _rows(buttons: tuple[Button, ...], question_type: QuestionType | None) -> list[list[Button]]:
    """Numbers in balanced rows of at most six; long labels (or labelled scales) one per row; short
    labels up to three to a row. Laid out on the bare labels, so a ✓ never moves a button."""
    if not buttons:
        return []
    labels = [b.label for b in buttons]
    scale = question_type in (QuestionType.RATING, QuestionType.NPS)
    if scale and all(_NUMBER.fullmatch(label) for label in labels):
        count = -(-len(buttons) // 6)
        size = -(-len(buttons) // count)
        return [list(buttons[i : i + size]) for i in range(0, len(buttons), size)]
    if scale or max(map(len, labels)) > 20:
        return [[b] for b in buttons]
    rows: list[list[Button]] = [[]]
    for button in buttons:
        row = rows[-1]
        if row and (len(row) == 3 or sum(len(b.label) for b in row) + len(button.label) > 30):
            rows.append(row := [])
        row.append(button)
    return rows


def text_of(message: Outgoing) -> str:
    if message.kind is Kind.QUESTION and message.hint and not message.choices:
        return f"{message.text}\n\n{message.hint}"
    return message.text


def chunks(text: str, size: int = MAX_TEXT) -> list[str]:
    """``text`` cut at line ends into pieces Telegram accepts."""
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = size if cut <= 0 else cut
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text]
