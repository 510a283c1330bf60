"""Surveys in several languages: ``languages`` and ``{en: …, de: …}`` texts (an extension of format v1)."""

from __future__ import annotations

import textwrap

import pytest

from bot.errors import DefinitionError
from bot.loader import load_text
from bot.survey import Survey

LUNCH = """\
id: lunch
title: {en: Team lunch, de: Mittagessen im Team}
languages: [en, de]
welcome: {en: "Hello {respondent.name}!", de: "Hallo {respondent.name}!"}
goodbye: {en: "Thanks!", de: "Danke!"}
questions:
  - id: dish
    type: single_choice
    text: {en: "What should we order?", de: "Was sollen wir bestellen?"}
    choices:
      - {en: Pizza, de: Pizza}
      - {id: salad, label: {en: Salad, de: Salat}, reply: {en: "Healthy!", de: "Gesund!"}}
  - id: why
    type: text
    text: {en: "Why {dish}?", de: "Warum {dish}?"}
    error: {en: "Say something.", de: "Sagen Sie etwas."}
  - id: score
    type: rating
    text: {en: "How was it?", de: "Wie war es?"}
    labels:
      1: {en: Bad, de: Schlecht}
      5: {en: Great, de: Toll}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_text(textwrap.dedent(text), "s.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_first_language_is_the_survey_and_the_others_are_one_call_away() -> None:
    survey = load_text(LUNCH, "lunch.yaml")
    german = survey.in_language("de")

    assert (survey.languages, survey.language, german.language) == (("en", "de"), "en", "de")
    assert (survey.title, german.title) == ("Team lunch", "Mittagessen im Team")
    assert german.welcome == "Hallo {respondent.name}!" and german.goodbye == "Danke!"
    assert [c.label for c in german.questions[0].choices] == ["Pizza", "Salat"]
    assert german.questions[0].choices[1].reply == "Gesund!"
    assert (german.questions[1].text, german.questions[1].error) == ("Warum {dish}?", "Sagen Sie etwas.")
    assert german.questions[2].labels == {1: "Schlecht", 5: "Toll"}


def test_ids_rules_and_version_are_the_same_in_every_language() -> None:
    survey = load_text(LUNCH, "lunch.yaml")
    german = survey.in_language("de")

    assert [q.id for q in german.questions] == [q.id for q in survey.questions]
    assert [c.id for c in german.questions[0].choices] == ["pizza", "salad"]
    assert german.version == survey.version and german.content_hash == survey.content_hash


@pytest.mark.parametrize("language", [None, "en", "fr", ""])
def test_the_default_an_unknown_or_no_language_is_the_survey_itself(language: str | None) -> None:
    survey = load_text(LUNCH, "lunch.yaml")

    assert survey.in_language(language) is survey


def test_a_localized_survey_is_built_once_per_version() -> None:
    survey = load_text(LUNCH, "lunch.yaml")

    assert survey.in_language("de") is survey.in_language("de")


def test_a_survey_without_languages_is_unchanged() -> None:
    survey = load_text("id: s\ntitle: S\nquestions:\n  - {id: a, type: text, text: A}\n")

    assert (survey.languages, survey.language, survey.translations) == ((), None, {})


def test_one_declared_language_takes_plain_strings() -> None:
    survey = load_text(
        "id: s\ntitle: Umfrage\nlanguages: [de]\nquestions:\n  - {id: a, type: text, text: A}\n"
    )

    assert (survey.languages, survey.language, survey.title) == (("de",), "de", "Umfrage")


def test_missing_unknown_and_untranslated_texts_are_refused_at_their_line() -> None:
    found = problems(
        """\
        id: s
        title: {en: S, de: S}
        languages: [en, de]
        questions:
          - id: a
            type: single_choice
            text: {en: "A?"}
            choices:
              - Plain
              - {en: Two, de: Zwei}
            reply: Thanks
          - id: b
            type: text
            text: {en: "B?", de: "B?", fr: "B?"}
        """
    )

    assert found == [
        "s.yaml:7: question 'a': 'text' has no de translation",
        "s.yaml:9: question 'a': a choice must be labelled in each language of the survey (en, de)",
        "s.yaml:11: question 'a': 'reply' must be given in each language of the survey (en, de): "
        "{en: …, de: …}",
        "s.yaml:14: question 'b': unknown field 'fr' in 'text': not a language of the survey",
    ]


def test_placeholders_are_checked_in_every_translation() -> None:
    found = problems(
        """\
        id: s
        title: {en: S, de: S}
        languages: [en, de]
        questions:
          - id: a
            type: text
            text: {en: "A {a}?", de: "A {later}?"}
          - id: later
            type: text
            text: {en: "B?", de: "B?"}
        """
    )

    assert sorted(found) == [
        "s.yaml:7: question 'a': text (de): placeholder {later} names question 'later', which comes "
        "later; only earlier questions can be used",
        "s.yaml:7: question 'a': text: placeholder {a} names question 'a', this question itself; "
        "only earlier questions can be used",
    ]


def test_languages_themselves_are_checked() -> None:
    assert problems(
        "id: s\ntitle: S\nlanguages: [en, EN, en, 7]\nquestions:\n  - {id: a, type: text, text: A}\n"
    ) == [
        "s.yaml:3: a language is a code like en, de or es, not the number 7",
        "s.yaml:3: a language is a code like en, de or es, not the text 'EN'",
        "s.yaml:3: language 'en' is named twice",
    ]
    assert problems("id: s\ntitle: {en: S}\nquestions:\n  - {id: a, type: text, text: A}\n") == [
        "s.yaml:2: 'title' is given per language, but the survey declares no 'languages'"
    ]


def test_a_translation_changes_the_content_and_so_the_version() -> None:
    survey: Survey = load_text(LUNCH, "lunch.yaml")
    changed = load_text(LUNCH.replace("Danke!", "Vielen Dank!"), "lunch.yaml")

    assert survey.content_hash != changed.content_hash
