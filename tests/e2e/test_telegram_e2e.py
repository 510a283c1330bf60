"""The Telegram adapter end to end: the real ``surveybot run`` against a Bot API emulator on loopback.

The emulator is the npm package telegram-test-api, started through our launcher
(``tests/e2e/telegram_emulator/launcher.js``, which fixes what python-telegram-bot cannot parse). The
test acts as the Telegram user through the emulator's client routes and reads what the bot sent; the
bot runs as a subprocess in long-polling or webhook mode, with the real MongoDB-protocol server and Redis.
The user, the emulator and the bot process are in ``tests/e2e/telegram_emulator``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from adapters.telegram import SECRET_HEADER, WEBHOOK_PATH, webhook_secret
from tests.e2e.team_lunch import ANSWERS, SURVEY_ID, load_team_lunch
from tests.e2e.telegram_emulator import (
    ROOT,
    SURVEYBOT,
    Bot,
    Emulator,
    Message,
    button_data,
    keyboard,
    showing,
    stored_responses,
    surveybot_env,
    wait_until,
)

ADMIN_ID = 1001

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(mongodb_test_uri: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"admins:\n  telegram: ['{ADMIN_ID}']\n", encoding="utf-8")
    return surveybot_env(mongodb_test_uri, redis_url, config)


@pytest.fixture
def loaded(env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        [*SURVEYBOT, "load", "surveys/"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(params=["polling", "webhook"])
def bot(
    request: pytest.FixtureRequest, emulator: Emulator, loaded: dict[str, str], tmp_path: Path
) -> Iterator[Bot]:
    running = Bot(emulator, loaded, tmp_path, webhook=request.param == "webhook")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def polling_bot(emulator: Emulator, loaded: dict[str, str], tmp_path: Path) -> Iterator[Bot]:
    running = Bot(emulator, loaded, tmp_path, webhook=False)
    running.start()
    yield running
    running.stop()


def stored_response(mongodb_test_uri: str, survey_id: str) -> dict[str, Any]:
    [found] = stored_responses(mongodb_test_uri, survey_id)
    return found


# --------------------------------------------------------------------------- the tests


def test_a_respondent_registers_for_codefest_to_the_end(bot: Bot, mongodb_test_uri: str) -> None:
    ada = bot.user()
    log = bot.log
    menu = bot.emulator.post("/commands", bot.body)
    assert [c["command"] for c in menu[0]["commands"]] == [
        "start", "surveys", "back", "skip", "restart", "stop", "optout", "language", "link", "help"
    ]  # fmt: skip

    ada.say("/start codefest-2025")
    ada.expect("Welcome to CodeFest 2025, Ada Lovelace!", "Which e-mail address", log=log)
    ada.say("ada at example")
    ada.expect("That does not look like an e-mail address", "Which e-mail address", log=log)
    ada.say("Ada@Example.ORG")
    ada.expect("What name should we print on your badge?", log=log)
    ada.say("Ada L.")
    ada.expect("Nice to meet you, Ada L.", "On which day will you arrive?", log=log)
    ada.say("2025-09-19")
    ada.expect("How many guests", log=log)
    ada.say("2")
    workshops = ada.expect("Which workshops would you like to join?", log=log)[-1]
    assert keyboard(workshops) == [
        ["Rust for Python developers"],
        ["Kubernetes without tears"],
        ["Accessibility in practice"],
        ["Property-based testing"],
        ["Done"],
    ]

    for label in ("Rust for Python developers", "Kubernetes without tears", "Property-based testing"):
        ada.press(workshops, label)
        ada.edited(workshops, showing(f"✓ {label}"), log=log)
    ada.press(workshops, "Done")
    wait_until(
        "the limit notice", lambda: any(a["text"] == "Please pick at most 2." for a in ada.callback_answers())
    )
    ada.press(workshops, "Kubernetes without tears")
    ada.edited(workshops, showing("Kubernetes without tears"), log=log)
    ada.press(workshops, "Done")
    dinner = ada.expect("Will you join the speakers' dinner on Friday?", log=log)[-1]
    answered = ada.edited(workshops, lambda m: "reply_markup" not in m, log=log)
    assert answered["text"].endswith("\n✓ Rust for Python developers, Property-based testing")

    ada.press(dinner, "Not sure yet")
    ada.expect("No problem, we will ask again a week before.", "Any dietary requirements", log=log)
    ada.say("vegan")
    shuttle = ada.expect("Do you need a seat on the shuttle from the airport on 2025-09-19?", log=log)[-1]
    assert keyboard(shuttle) == [["Yes", "No"]]

    before = len(ada.messages())
    ada.press_data(dinner, button_data(dinner, "Yes"))  # a stale button: that question is answered
    wait_until(
        "the stale-button notice",
        lambda: ada.callback_answers()[-1]["text"] == "This question was already answered.",
    )
    assert len(ada.messages()) == before

    ada.press(shuttle, "Yes")
    accessibility = ada.expect("Is there anything we can do", log=log)[-1]
    assert ["Skip"] in keyboard(accessibility)
    ada.say("/skip")
    ada.expect("You are registered, Ada L.! Your ticket is on its way to Ada@example.org.", log=log)

    answers = ada.callback_answers()
    assert len(answers) == ada.presses
    assert len({a["callback_query_id"] for a in answers}) == ada.presses, "each query answered once"

    response = stored_response(mongodb_test_uri, "codefest-2025")
    assert response["status"] == "completed"
    assert response["respondent"]["platform"] == "telegram"
    assert response["respondent"]["user_id"] == str(ada.id)
    assert response["respondent"]["name"] == "Ada Lovelace"
    assert {qid: a["value"] for qid, a in response["answers"].items()} == {
        "email": "Ada@example.org",
        "badge_name": "Ada L.",
        "arrival": "2025-09-19",
        "guests": 2,
        "workshops": ["rust", "testing"],
        "dinner": "maybe",
        "diet": "vegan",
        "shuttle": True,
    }


def test_the_webhook_checks_the_secret_token_and_answers_a_redelivery_once(
    emulator: Emulator, loaded: dict[str, str], tmp_path: Path, mongodb_test_uri: str
) -> None:
    bot = Bot(emulator, loaded, tmp_path, webhook=True)
    bot.start()
    try:
        ann = bot.user()
        url = f"http://127.0.0.1:{bot.port}{WEBHOOK_PATH}"
        message = {**ann.message(text="/start ice-cream"), "message_id": 1}
        del message["botToken"]
        update = {"update_id": 10**9 + ann.id, "message": message}

        assert httpx.post(url, json=update).status_code == 403
        assert httpx.post(url, json=update, headers={SECRET_HEADER: "guess"}).status_code == 403
        time.sleep(0.3)
        assert ann.messages() == []

        secret = {SECRET_HEADER: webhook_secret(bot.token)}
        assert httpx.post(url, json=update, headers=secret, timeout=10).status_code == 200
        assert httpx.post(url, json=update, headers=secret, timeout=10).status_code == 200
        flavour = ann.expect("Hello Ada Lovelace!", "Which flavour of ice cream do you prefer?", log=bot.log)
        assert len(flavour) == 2, "the redelivered update is answered once"

        ann.press(flavour[-1], "Strawberry")
        ann.expect("Strawberry: a taste of summer!", "Would you like to provide feedback", log=bot.log)
        ann.say("Yes, gladly")
        ann.expect("What makes Strawberry your favourite?", log=bot.log)
        ann.say("It tastes like June.")
        ann.expect("Thanks, that is good to know!", "Thank you for your time, Ada Lovelace!", log=bot.log)
        deliveries = emulator.post("/webhookDeliveries", bot.body)
        assert {d["status"] for d in deliveries} == {200}
    finally:
        bot.stop()
    response = stored_response(mongodb_test_uri, "ice-cream")
    assert {qid: a["value"] for qid, a in response["answers"].items()} == {
        "flavour": "strawberry",
        "wants_feedback": True,
        "why": "It tastes like June.",
    }


def test_a_restarted_bot_resumes_at_the_same_question(polling_bot: Bot, mongodb_test_uri: str) -> None:
    bob = polling_bot.user()
    bob.say("/start ice-cream")
    flavour = bob.expect("Which flavour of ice cream do you prefer?", log=polling_bot.log)[-1]
    bob.press(flavour, "Chocolate")
    bob.expect("Would you like to provide feedback on why you chose Chocolate?", log=polling_bot.log)

    polling_bot.stop()
    polling_bot.start()
    bob.say("/start")
    asked = bob.expect(
        "Welcome back! Let's continue “Ice cream preferences” where you left off.",
        "Would you like to provide feedback on why you chose Chocolate?",
        log=polling_bot.log,
    )[-1]
    bob.press(asked, "No")
    bob.expect("Thank you for your time, Ada Lovelace!", log=polling_bot.log)
    response = stored_response(mongodb_test_uri, "ice-cream")
    assert response["status"] == "completed"
    assert {qid: a["value"] for qid, a in response["answers"].items()} == {
        "flavour": "chocolate",
        "wants_feedback": False,
    }


LUNCH = """\
id: lunch
title: Lunch
questions:
  - id: dish
    type: text
    text: What did you eat?
"""


def test_only_admins_upload_surveys_and_read_results(polling_bot: Bot, mongodb_test_uri: str) -> None:
    stranger, admin = polling_bot.user(), polling_bot.user(ADMIN_ID)
    log = polling_bot.log

    stranger.send_document("lunch.yaml", LUNCH)
    stranger.expect("Sorry, only survey admins can upload surveys. Your file was not stored.", log=log)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongodb_test_uri)
    with client:
        assert client.get_default_database()["surveys"].count_documents({"survey_id": "lunch"}) == 0

    admin.send_document("lunch.yaml", LUNCH.replace("type: text", "type: essay"))
    [problems] = admin.expect("lunch.yaml:5: question 'dish'", log=log)
    assert "essay" in problems["text"]
    admin.send_document("lunch.yaml", LUNCH)
    admin.expect("stored lunch version 1 (lunch.yaml)", log=log)
    stranger.say("/start lunch")
    stranger.expect("What did you eat?", log=log)

    stranger.say("/results lunch")
    stranger.expect("Sorry, only survey admins can read results.", log=log)
    stranger.say("Soup")
    stranger.expect("Thank you! Your response has been recorded.", log=log)
    admin.say("/results lunch")
    [summary] = admin.expect("Started 1, completed 1 (100%), in progress 0", log=log)
    assert summary["text"].startswith("Results of lunch:\nLunch (lunch, version 1)")

    admin.say("/start ice-cream")
    flavour = admin.expect("Which flavour of ice cream do you prefer?", log=log)[-1]
    admin.press(flavour, "Vanilla")
    admin.expect("Would you like to provide feedback", log=log)
    admin.say("no")
    admin.expect("Thank you for your time", log=log)
    admin.say("/results ice-cream")
    charts = admin.expect("Ice cream preferences (ice-cream", "Would you like to provide feedback", log=log)
    assert [m.get("caption") for m in charts[1:]] == [
        "Which flavour of ice cream do you prefer?",
        "Would you like to provide feedback on why you chose ‹flavour›?",
    ]
    assert all(m.get("photo") for m in charts[1:])


TEAM_CHAT = -1001234567890


def team_chat(bot: Bot) -> list[Message] | None:
    """What the bot posted in the team's group, if anything yet."""
    found: list[Message] = bot.emulator.post("/botMessages", {**bot.body, "chatId": TEAM_CHAT})
    return found or None


def test_a_completed_response_lands_in_the_team_group(polling_bot: Bot, tmp_path: Path) -> None:
    survey = tmp_path / "standup.yaml"
    survey.write_text(
        "id: standup\ntitle: Stand-up\n"
        f"settings: {{broadcast: [{{telegram_chat: {TEAM_CHAT}}}]}}\n"
        "questions:\n  - {id: done, type: text, text: 'What did you finish?'}\n",
        encoding="utf-8",
    )
    loaded = subprocess.run(
        [*SURVEYBOT, "load", str(survey)], env=polling_bot.env, cwd=ROOT, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    ada = polling_bot.user()
    ada.say("/start standup")
    ada.expect("What did you finish?", log=polling_bot.log)
    ada.say("The <b>login</b> page")
    ada.expect("Thank you!", log=polling_bot.log)

    [posted] = wait_until("the broadcast in the group", lambda: team_chat(polling_bot), log=polling_bot.log)
    assert posted["text"] == (
        "New response to “Stand-up” (Ada Lovelace, telegram)\n• What did you finish?: The <b>login</b> page"
    )
    assert "parse_mode" not in posted, "plain text: nothing a respondent typed is markup"


def test_a_campaign_invitation_arrives_the_person_answers_the_group_sees_it(
    polling_bot: Bot, tmp_path: Path
) -> None:
    import asyncio

    from adapters.bootstrap import open_app
    from adapters.config import load_config
    from bot.catalog import publish
    from bot.loader import load_text
    from tests.campaign_files import store_due_now

    ada = polling_bot.user()
    pulse = (
        "id: pulse\ntitle: Team pulse\n"
        f"settings: {{one_response_per_user: false, broadcast: [{{telegram_chat: {TEAM_CHAT}}}]}}\n"
        "questions:\n  - {id: mood, type: rating, text: 'How was your week?', min: 1, max: 5}\n"
    )

    async def store() -> None:
        # Due a minute ago: the running bot sends it within a second.
        config = load_config(ROOT / "config.yaml", environ=polling_bot.env)
        app = await open_app(config, tmp_path / "state", alias="e2e-campaign")
        try:
            await publish(app.surveys, load_text(pulse, "pulse.yaml"))
            await store_due_now(app, "pulse-now", f"{{telegram: [{ada.id}]}}")
        finally:
            await app.aclose()

    asyncio.run(store())
    [invitation] = ada.expect("Would you answer “Team pulse”?", log=polling_bot.log)
    assert keyboard(invitation) == [["Start “Team pulse”"]]
    ada.press(invitation, "Start “Team pulse”")
    question = ada.expect("How was your week?", log=polling_bot.log)[-1]
    ada.press(question, "4")
    ada.expect("Thank you!", log=polling_bot.log)

    [posted] = wait_until("the broadcast in the group", lambda: team_chat(polling_bot), log=polling_bot.log)
    assert posted["text"] == "New response to “Team pulse” (Ada Lovelace, telegram)\n• How was your week?: 4"


def test_a_german_user_is_asked_in_german_and_the_answers_are_stored_alike(
    polling_bot: Bot, mongodb_test_uri: str
) -> None:
    """Telegram says the user's app is set to German (``language_code``): the survey, the buttons, the
    hints and the errors are German, German words are read as answers, and MongoDB holds the same values
    as for the English respondent of test_slack_e2e.py, with the language."""
    load_team_lunch(polling_bot.env)
    jana = polling_bot.user(language_code="de")
    log = polling_bot.log

    jana.say(f"/start {SURVEY_ID}")
    dish = jana.expect(
        "Hallo Ada Lovelace! Planen wir das Mittagessen am Freitag.", "Was sollen wir bestellen?", log=log
    )[-1]
    assert dish["text"] == "Was sollen wir bestellen?", "no typing hint beside the buttons"
    assert keyboard(dish) == [["Pizza", "Salat", "Suppe"]]
    jana.say("Suppe")  # a German label, typed
    dessert = jana.expect("Möchten Sie einen Nachtisch?", log=log)[-1]
    assert keyboard(dessert) == [["Ja", "Nein"], ["Zurück"]]
    answered = jana.edited(dish, lambda m: "reply_markup" not in m, log=log)
    assert answered["text"] == "Was sollen wir bestellen?", "answered by typing: the buttons go"

    jana.say("ja")
    guests = jana.expect("Wie viele Gäste bringen Sie mit?", log=log)[-1]
    assert guests["text"] == (
        "Wie viele Gäste bringen Sie mit?\n\nBitte antworten Sie mit einer ganzen Zahl von 0 bis 3."
    )
    jana.say("viele")
    refused = jana.expect("Wie viele Gäste bringen Sie mit?", log=log)
    assert [m["text"] for m in refused] == [
        "Bitte antworten Sie mit einer ganzen Zahl von 0 bis 3.",
        guests["text"],
    ], "a German error, and the question again"
    jana.say("2")
    seat = jana.expect("Wo möchten Sie sitzen?", log=log)[-1]
    assert keyboard(seat) == [["Drinnen", "Auf der Terrasse"], ["Zurück"]]
    jana.press(seat, "Auf der Terrasse")
    jana.expect("Danke, Ada Lovelace! Bis Freitag.", log=log)
    pressed = jana.edited(seat, lambda m: "reply_markup" not in m, log=log)
    assert pressed["text"] == "Wo möchten Sie sitzen?\n✓ Auf der Terrasse"

    response = stored_response(mongodb_test_uri, SURVEY_ID)
    assert (response["status"], response["language"]) == ("completed", "de")
    assert response["respondent"]["platform"] == "telegram"
    assert {qid: a["value"] for qid, a in response["answers"].items()} == ANSWERS
