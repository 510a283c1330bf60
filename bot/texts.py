"""What the bot says on its own behalf (the survey's own texts come from the survey file)."""

from __future__ import annotations

UNAVAILABLE = "Sorry, we could not save that just now. Please try again in a moment."
UNCONFIRMED = (
    "Sorry, we could not confirm that your answer was saved. Please send it again in a moment: "
    "if it was saved, you will simply get the next question."
)
TEXT_ONLY = "Sorry, I can only read text. Please answer with text or the buttons."
ALREADY_ANSWERED = "This question was already answered."
ALREADY_COMPLETED = "You have already completed “{title}”. Thank you!"
SURVEY_FULL = "“{title}” has all the responses it needs and is closed now. Thank you for your interest!"
RESUMING = "Welcome back! Let's continue “{title}” where you left off."
NO_SURVEYS = "There are no surveys to take right now."
PICK_SURVEY = "Which survey would you like to take?"
UNKNOWN_SURVEY = "There is no survey called “{survey_id}”."
NOTHING_IN_PROGRESS = "You have no survey in progress. Send /start to begin one."
PAUSED = "Paused. Your answers are saved; send /start to continue."
STILL_PAUSED = "Your survey “{title}” is paused. Send /start to continue it."
NO_BACK = "Going back is not possible in this survey."
AT_FIRST = "This is the first question; there is nothing to go back to."
SKIPPED = "(skipped)"
NOT_SKIPPABLE = "This question needs an answer; it cannot be skipped."
RESTARTING = "Starting over: your earlier answers to this survey are dropped."
UNKNOWN_COMMAND = "I don't know the command /{command}."
PICK_MORE = "Please pick at least {n}."
PICK_FEWER = "Please pick at most {n}."
FALLBACK_NAME = "friend"
OPTED_OUT = "Done: I will send you no more invitations or reminders. Send /optin to get them again."
OPTED_IN = "Done: you may get invitations and reminders again. Send /optout to stop them."
NO_INVITATIONS = "This bot sends no invitations, so there is nothing to opt out of."
JOINED = "You are on the “{tag}” list: its surveys will come to you here. /optout stops them."
BAD_TAG = "That link names no list I know how to keep."
HELP = """I run surveys. You can send:
/start [survey] – start or resume a survey
/surveys – the surveys you can take
/back – go back to the previous question
/skip – skip an optional question
/restart – drop your answers and begin again
/stop – pause; /start continues later
/optout – no more invitations or reminders from me (/optin to get them again)
/help – this text
The commands also work without the slash, except as the answer to a free-text question."""
