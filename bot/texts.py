"""What the bot says on its own behalf (the survey's own texts come from the survey file).

Each text is in English, marked for the catalogs (:mod:`bot.i18n`); say it in the respondent's language
with ``t.gettext(texts.X)``, or ``t.plural(texts.X, n)`` for a :class:`~bot.i18n.Plural`.
"""

from __future__ import annotations

from bot.i18n import N_, Plural

UNAVAILABLE = N_("Sorry, we could not save that just now. Please try again in a moment.")
UNCONFIRMED = N_(
    "Sorry, we could not confirm that your answer was saved. Please send it again in a moment: "
    "if it was saved, you will simply get the next question."
)
TEXT_ONLY = N_("Sorry, I can only read text. Please answer with text or the buttons.")
ALREADY_ANSWERED = N_("This question was already answered.")
ALREADY_COMPLETED = N_("You have already completed “{title}”. Thank you!")
SURVEY_FULL = N_("“{title}” has all the responses it needs and is closed now. Thank you for your interest!")
RESUMING = N_("Welcome back! Let's continue “{title}” where you left off.")
NO_SURVEYS = N_("There are no surveys to take right now.")
PICK_SURVEY = N_("Which survey would you like to take?")
UNKNOWN_SURVEY = N_("There is no survey called “{survey_id}”.")
NOTHING_IN_PROGRESS = N_("You have no survey in progress. Send /start to begin one.")
PAUSED = N_("Paused. Your answers are saved; send /start to continue.")
STILL_PAUSED = N_("Your survey “{title}” is paused. Send /start to continue it.")
NO_BACK = N_("Going back is not possible in this survey.")
AT_FIRST = N_("This is the first question; there is nothing to go back to.")
# Translators: a skipped question's message is edited to show this as its answer.
SKIPPED = N_("(skipped)")
NOT_SKIPPABLE = N_("This question needs an answer; it cannot be skipped.")
RESTARTING = N_("Starting over: your earlier answers to this survey are dropped.")
UNKNOWN_COMMAND = N_("I don't know the command /{command}.")
# Translators: a multi-choice question submitted with too few ticks; {n} is the fewest allowed.
# English says both forms alike; give your language's singular and plural.
PICK_MORE = Plural("Please pick at least {n}.", "Please pick at least {n}.")
# Translators: a multi-choice question submitted with too many ticks; {n} is the most allowed.
PICK_FEWER = Plural("Please pick at most {n}.", "Please pick at most {n}.")
# Translators: stands for the respondent's name in survey texts when the platform gave none.
FALLBACK_NAME = N_("friend")
OPTED_OUT = N_("Done: I will send you no more invitations or reminders. Send /optin to get them again.")
OPTED_IN = N_("Done: you may get invitations and reminders again. Send /optout to stop them.")
NO_INVITATIONS = N_("This bot sends no invitations, so there is nothing to opt out of.")
JOINED = N_("You are on the “{tag}” list: its surveys will come to you here. /optout stops them.")
BAD_TAG = N_("That link names no list I know how to keep.")
# Translators: the commands stay in English (they are what respondents type); explain them.
HELP = N_(
    """I run surveys. You can send:
/start [survey] – start or resume a survey
/surveys – the surveys you can take
/back – go back to the previous question
/skip – skip an optional question
/restart – drop your answers and begin again
/stop – pause; /start continues later
/optout – no more invitations or reminders from me (/optin to get them again)
/language [code] – the language I speak with you
/link – go on in another chat (/unlink undoes it)
/help – this text
The commands also work without the slash, except as the answer to a free-text question."""
)

# The /language command.
# Translators: {current} is a language's own name ("Deutsch", "English"); {languages} lists each code
# with its name: "de (Deutsch), en (English)".
LANGUAGES = N_("You are answering in {current}. Languages: {languages}. Send /language and a code to change.")
# Translators: {language} is what the respondent typed after /language.
UNKNOWN_LANGUAGE = N_("I don't speak “{language}”.")
# Translators: {language} is the chosen language's own name ("Deutsch", "English", "Español").
LANGUAGE_SET = N_("Language: {language}.")

# Buttons under a question.
BUTTON_YES = N_("Yes")
BUTTON_NO = N_("No")
# Translators: submits the ticked choices of a multi-choice question.
BUTTON_DONE = N_("Done")
# Translators: goes back to the previous question.
BUTTON_BACK = N_("Back")
# Translators: skips an optional question.
BUTTON_SKIP = N_("Skip")

# Translators: said when a survey is completed and sets no goodbye of its own.
GOODBYE = N_("Thank you! Your response has been recorded.")

# Campaigns (bot/campaigns.py): {name} and {title} are the person's name and the survey's title. Sent
# in English for now: an invitation goes out before the person's language is known.
# Translators: a campaign's invitation, unless the campaign file sets its own message.
CAMPAIGN_INVITATION = N_("Hi {name}! Would you answer “{title}”? It takes a minute.")
# Translators: a campaign's reminder to someone who has not started the survey.
CAMPAIGN_REMINDER = N_("A reminder, {name}: “{title}” is waiting for your answers.")
# Translators: a campaign's reminder to someone who started the survey and did not finish it.
CAMPAIGN_RESUME = N_("{name}, you are part way through “{title}”: pick up where you left off?")

# Linking channels (/link, /unlink; docs/linking.md).
# Translators: {code} looks like K7P-4QD; {minutes} is a whole number.
LINK_CODE = Plural(
    "Your link code is {code}. Send it to me from your other chat (Telegram, Slack, the web chat or the "
    "terminal) within {minutes} minute to go on there with the same answers.",
    "Your link code is {code}. Send it to me from your other chat (Telegram, Slack, the web chat or the "
    "terminal) within {minutes} minutes to go on there with the same answers.",
)
LINK_NOT_A_CODE = N_(
    "“{text}” is not a link code: codes look like K7P-4QD. Send /link in your other chat to get one."
)
LINK_OWN = N_("That is this chat's own code: send it to me from your other chat.")
LINK_UNKNOWN = N_("That link code is wrong or has expired. Send /link in your other chat for a new one.")
# Translators: {minutes} is a whole number.
LINK_REFUSED = Plural(
    "Too many wrong link codes. Please try again in {minutes} minute.",
    "Too many wrong link codes. Please try again in {minutes} minutes.",
)
LINKED = N_("Linked: this chat and your other one now share your answers.")
LINKED_ALREADY = N_("This chat is linked to that one already.")
UNLINKED = N_("Unlinked: this chat keeps its own answers again.")
NOT_LINKED = N_("This chat is not linked to another one.")
NO_LINKING = N_("Linking chats is not available here.")

# What the platform adapters say on their own (their constants are these texts).
# Translators: added under /help on Slack, where typed /commands belong to Slack.
SLACK_HELP = N_(
    "On Slack, type these words without the slash; from any channel, /survey [SURVEY_ID] starts one."
)
# Translators: {link} is a link to the direct message with the bot.
SLACK_DM_NOTE = N_("Let's continue in {link}: I have sent you a message there.")
# Translators: the bot was mentioned in a channel; {link} is a link to the direct message with it.
SLACK_MENTION = N_(
    "Hello! Surveys run in {link}: open it and type `surveys`, or use `/survey` from anywhere."
)
# Translators: a survey command sent in a Telegram group; a button below opens the private chat.
TELEGRAM_PRIVATE_ONLY = N_("Surveys are taken in a private chat with me. Tap the button to open one.")
TELEGRAM_OPEN_PRIVATE = N_("Open a private chat")
WEB_TOO_MANY_IDS = N_("Too many new respondents from your address; please try again later.")
WEB_TOO_FAST = N_("You are sending messages too fast; please wait a moment.")
WEB_FAILED = N_("Sorry, something went wrong. Please try again.")
# Translators: the terminal's input ended in the middle of a survey.
CONSOLE_END_OF_INPUT = N_("(End of input: your answers are saved. Run the same command to continue.)")
