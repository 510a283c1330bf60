"""The operators' console in Debian's Chromium against the real `surveybot run` on the real stores: sign
in, a refused upload with its problem under its line, a good upload answered in the web chat, the results
page with its charts loaded, and the CSV export downloaded. Screenshots are kept under
var/test-artifacts/console/ (the one of the results page is docs/console-results.png)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import ROOT, TOKEN, Web, answered, bot_said, press, start

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "var" / "test-artifacts" / "console"

LUNCH = """\
id: team-lunch
title: Team lunch
welcome: Hello {respondent.name}! Two questions about Friday's lunch.
questions:
  - id: dish
    type: single_choice
    text: What should we order on Friday?
    choices: [Pizza, Sushi, Salad, Tacos]
  - id: last_time
    type: rating
    text: How was the last team lunch?
    min: 1
    max: 5
goodbye: Thanks, {respondent.name}!
"""

BROKEN = """\
id: team-lunch
title: Team lunch
questions:
  - id: dish
    type: single_choice
    text: What should we order on Friday?
    choices: [Pizza]
  - id: last_time
    type: rating
    text: How was the last team lunch?
"""

VOTES = [("Ana", "Pizza", "4"), ("Ben", "Sushi", "5"), ("Caro", "Pizza", "3"), ("Dev", "Tacos", "5")]


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sign_in_upload_results_and_export(web: Web, browser: Browser, page: Page, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    page.goto(web.url + "/console")
    expect(page).to_have_url(web.url + "/console/sign-in")
    page.fill("#token", "not-the-token-but-long-enough-to-try")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
    page.fill("#token", TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web.url + "/console/surveys")
    expect(page.locator('#surveys tr[data-survey="ice-cream"]')).to_contain_text("Ice cream preferences")
    shot(page, "surveys")

    broken = tmp_path / "team-lunch.yaml"
    broken.write_text(BROKEN)
    page.get_by_role("link", name="Upload", exact=True).first.click()
    page.set_input_files("#survey", broken)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_have_text(
        "“team-lunch.yaml” was not loaded: 1 problem; nothing was stored."
    )
    under_line_7 = page.locator("#L7 + tr.note")
    expect(under_line_7).to_have_text("team-lunch.yaml:7: question 'dish': needs at least two choices, not 1")
    expect(page.locator("#L7 code")).to_have_text("    choices: [Pizza]")
    under_line_7.scroll_into_view_if_needed()
    shot(page, "upload-refused")

    good = tmp_path / "team-lunch.yaml"
    good.write_text(LUNCH)
    page.set_input_files("#survey", good)
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(web.url + "/console/surveys/team-lunch?loaded=stored")
    expect(page.get_by_role("status")).to_have_text("Stored as version 1.")

    for name, dish, score in VOTES:  # each in a browser of their own: a respondent of their own
        context = browser.new_context()
        chat = context.new_page()
        chat.set_default_timeout(15_000)
        start(chat, web, "team-lunch", name)
        press(chat, dish)
        press(chat, score)
        expect(bot_said(chat).last).to_have_text(f"Thanks, {name}!")
        context.close()
    partial = browser.new_context()
    chat = partial.new_page()
    start(chat, web, "team-lunch", "Eve")
    press(chat, "Salad")
    answered(chat)
    partial.close()

    page.goto(web.url + "/console/surveys/team-lunch")
    expect(page.locator("#results .totals")).to_contain_text("Completion rate")
    charts = page.locator("img.chart")
    expect(charts).to_have_count(2)
    for n in range(2):
        chart = charts.nth(n)
        chart.scroll_into_view_if_needed()
        expect(chart).to_have_js_property("complete", True)
        assert chart.evaluate("img => img.naturalWidth") == 800, "the chart image loaded"
    page.set_viewport_size({"width": 1000, "height": 900})
    shot(page, "results")

    page.get_by_role("link", name="Responses", exact=True).click()
    expect(page.locator("#responses tbody tr")).to_have_count(5)
    expect(page.locator("#responses tbody tr").first).to_contain_text("Eve")
    page.select_option("#status", "completed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#responses tbody tr")).to_have_count(4)
    shot(page, "responses")
    with page.expect_download() as waiting:
        page.locator("#export-csv").click()
    download = waiting.value
    assert download.suggested_filename == "team-lunch-responses.csv"
    saved = ARTIFACTS / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert sorted((r["respondent.name"], r["dish"], r["last_time"]) for r in rows) == [
        (name, dish.lower(), score) for name, dish, score in VOTES
    ]
