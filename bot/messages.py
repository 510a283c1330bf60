"""Neutral messages: what adapters hand the engine, and what the engine hands back to render."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.survey import QuestionType


@dataclass(frozen=True)
class ConversationKey:
    """Who a conversation is with: a plain value, like python-telegram-bot's conversation key tuple."""

    platform: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class Incoming:
    """One thing a respondent did: typed ``text``, pressed a ``button`` (its value), or sent a command.

    Commands usually arrive as text (``/back`` or ``back``); an adapter that decodes a command itself
    (a slash command, a deep link) sets ``command`` and puts its argument in ``text``.
    ``update_id`` is the platform's id of this delivery, used to answer a redelivery only once.
    ``message_id`` is the platform's id of the message a pressed button belongs to.
    ``question_id`` is the question a typed answer answers, when the client says so (the web chat does):
    an answer typed for a question that is answered already is then never taken for the next one.
    ``attachment`` means the respondent sent something other than text (a photo, a sticker, a voice
    message): it is answered with how to answer, and changes nothing.
    """

    platform: str
    user_id: str
    user_name: str = ""
    chat_id: str = ""
    text: str = ""
    button: str | None = None
    command: str | None = None
    update_id: str | None = None
    message_id: str | None = None
    question_id: str | None = None
    attachment: bool = False
    picked: tuple[int, ...] | None = None
    """With a toggle or submit ``button``: every choice ticked now, from a client that shows checkboxes
    (Slack) rather than toggling one at a time; the engine takes the whole selection in one call."""
    campaign: str | None = None
    """The campaign whose shareable link brought the respondent (the web chat's ``?campaign=``):
    recorded on a response this message begins."""
    language: str | None = None
    """The respondent's language as their platform says it (Telegram's ``language_code``, Slack's
    ``locale``, the browser's ``Accept-Language`` or the page's picker): ``de``, ``de-DE``, ``es-419``.
    A new response is given in it when the survey has it (``/language`` overrides it)."""

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(self.platform, self.user_id)


class Role(StrEnum):
    """What a button does, for adapters to lay it out and to tell it from the others."""

    ANSWER = "answer"
    """Answers the question with one choice (a choice, yes/no, a rating)."""
    TOGGLE = "toggle"
    """Ticks or unticks one choice of a multi-choice question."""
    SUBMIT = "submit"
    """Submits the ticked choices of a multi-choice question (Done)."""
    BACK = "back"
    SKIP = "skip"
    START = "start"
    """Starts (or resumes) the survey the button names."""


@dataclass(frozen=True)
class Button:
    """A button to offer: ``label`` to show, ``value`` to send back in :attr:`Incoming.button`."""

    label: str
    value: str
    selected: bool = False
    role: Role = Role.ANSWER


class Topic(StrEnum):
    """What an informational message is about, for adapters that add something of their own to it."""

    HELP = "help"


class Kind(StrEnum):
    INFO = "info"
    """Plain text: welcome, replies, goodbye, lists, help."""
    QUESTION = "question"
    """A question to answer; ``choices`` and ``question_type`` say how."""
    ANSWERED = "answered"
    """Replaces an earlier question message (``edit_of``) once it is answered: no buttons left."""
    SELECTION = "selection"
    """Replaces an earlier multi-choice question message (``edit_of``) with the toggles updated."""
    RETIRED = "retired"
    """An earlier question message (``edit_of``) loses its buttons; ``text`` is its question's text, for
    platforms that must send the text again to change a message."""
    NOTICE = "notice"
    """A short acknowledgement of a button press (a callback answer, an ephemeral message)."""
    ERROR = "error"
    """An invalid answer or a failure the respondent should know of."""


@dataclass(frozen=True)
class Outgoing:
    """One message for an adapter to render.

    ``choices`` are the answer buttons, in the order and numbering the respondent may also type;
    ``actions`` are command buttons (Done, Back, Skip, a survey to start). ``multi`` means choices
    toggle and ``Done`` submits. ``hint`` says how to answer by typing, for text-only surfaces.
    ``edit_of`` names the platform message this one replaces, when an adapter can edit messages.
    """

    chat_id: str
    text: str
    kind: Kind = Kind.INFO
    choices: tuple[Button, ...] = ()
    actions: tuple[Button, ...] = ()
    multi: bool = False
    question_type: QuestionType | None = None
    question_id: str | None = None
    hint: str = ""
    edit_of: str | None = None
    topic: Topic | None = None
    language: str | None = None
    """The language of the bot's words in it, for an adapter that adds words of its own (the help's
    Slack note); None: English."""

    @property
    def live_question(self) -> str | None:
        """The question whose buttons this message carries (None for any other message): once it is
        posted, an adapter reports the platform message with :meth:`bot.engine.Engine.shown`, so that
        the engine can retire those buttons when the conversation moves on."""
        if self.kind is Kind.QUESTION and (self.choices or self.actions):
            return self.question_id
        return None
