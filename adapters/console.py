"""The console adapter: one respondent's conversation on a terminal or a pipe, one line per message.

Like errbot's text backend it is a first-class platform: the same engine, the same surveys. Choices are
shown as a numbered list and answered by typing; reaching the end of input leaves the survey in progress,
so running the command again resumes it.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TextIO

from adapters.metrics import handle_observed
from bot import texts
from bot.engine import Engine
from bot.i18n import speaking
from bot.messages import Incoming, Kind, Outgoing, Role
from bot.survey import CHOICE_TYPES, QuestionType

PLATFORM = "console"


def to_incoming(line: str, user_id: str, name: str, language: str | None = None) -> Incoming:
    return Incoming(
        platform=PLATFORM, user_id=user_id, user_name=name, chat_id=user_id, text=line, language=language
    )


def terminal_language(environ: Mapping[str, str] = os.environ) -> str | None:
    """The user's language as the terminal's locale says it (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``: ``de_DE.UTF-8`` → ``de_DE``); None for the C/POSIX locale or none."""
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "").split(":")[0].split(".")[0].split("@")[0]
        if value and value not in ("C", "POSIX"):
            return value
    return None


def render(message: Outgoing) -> str | None:
    """The text to print for ``message``, or None for what a terminal cannot show (edits, selections)."""
    if message.kind in (Kind.ANSWERED, Kind.SELECTION, Kind.RETIRED):
        return None
    lines = [message.text]
    if message.question_type in CHOICE_TYPES:
        lines += [f"  {i}. {button.label}" for i, button in enumerate(message.choices, 1)]
    elif message.question_type is QuestionType.RATING and any(not b.label.isdigit() for b in message.choices):
        lines += [f"  {button.label}" for button in message.choices]  # the scale's labels
    if message.hint:
        lines.append(message.hint)
    commands = [
        b.value for b in message.actions if b.role is not Role.SUBMIT and message.kind is Kind.QUESTION
    ]
    if commands:
        lines.append("(also: " + " ".join(commands) + ")")
    return "\n".join(lines)


class ConsoleChat:
    """Feeds lines to the engine and prints its replies."""

    def __init__(
        self, engine: Engine, user_id: str, name: str, out: TextIO = sys.stdout, language: str | None = None
    ) -> None:
        self._engine = engine
        self._user_id = user_id
        self._name = name
        self._out = out
        self._language = language
        self._question: str | None = None

    async def send(self, line: str) -> list[Outgoing]:
        """Hand ``line`` to the engine (counted and timed like every platform's messages), bound to the
        question last printed, and print the replies."""
        msg = replace(
            to_incoming(line, self._user_id, self._name, self._language), question_id=self._question
        )
        replies = await handle_observed(self._engine, msg)
        self._question = next(
            (m.question_id for m in reversed(replies) if m.kind is Kind.QUESTION), self._question
        )
        self._print(replies)
        return replies

    async def run(self, first: str | None, lines: Iterable[str] | None = None, prompt: bool = False) -> None:
        """Send ``first`` (e.g. ``/start ice-cream``), then every line of input until it ends."""
        last: list[Outgoing] = []
        if first is not None:
            last = await self.send(first)
        source = iter(lines) if lines is not None else None
        if source is None and isinstance(sys.stdin, io.TextIOWrapper):
            # Bytes that are not UTF-8 become U+FFFD instead of lone surrogates no store can encode.
            sys.stdin.reconfigure(errors="replace")
        while True:
            if prompt:
                self._out.write("> ")
                self._out.flush()
            line = next(source, None) if source is not None else await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            last = await self.send(line)
        if any(m.kind is Kind.QUESTION for m in last):
            self._out.write("\n" + speaking(self._language).gettext(texts.CONSOLE_END_OF_INPUT) + "\n")
            self._out.flush()

    def _print(self, replies: list[Outgoing]) -> None:
        for message in replies:
            text = render(message)
            if text is not None:
                self._out.write(text + "\n")
        self._out.flush()
