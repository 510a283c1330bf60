"""The bot's own texts in English, German and Spanish: catalogs current and complete, plurals, yes and no
in each language, and the choice of a language from what a respondent's platform says."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot import i18n, texts
from bot.answers import display, hint, parse_answer
from bot.errors import InvalidAnswer
from bot.i18n import ENGLISH, LANGUAGES, Plural, negotiate, parse_accept_language, translation
from bot.survey import Choice, Question, QuestionType

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "bot" / "locale"
TRANSLATED = [language for language in LANGUAGES if language != i18n.DEFAULT]
KEYWORDS: dict[str, Any] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "Plural": (1, 2)}
"""The keywords of the Makefile's catalogs target (CATALOG_KEYWORDS)."""
T = QuestionType
DE = translation("de")
ES = translation("es")


def catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=language)


def forms(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """A message id or translation as its forms: one, or singular and plural."""
    return (text,) if isinstance(text, str) else tuple(text or ())


def ids(found: Catalog) -> set[tuple[str, ...]]:
    return {forms(message.id) for message in found if message.id}


def extracted() -> set[tuple[str, ...]]:
    """What ``make catalogs`` would extract from bot/ now, by Babel's API and babel.cfg."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    return {
        forms(message)
        for _, _, message, _, _ in extract_from_dir(
            ROOT / "bot", method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",)
        )
    }


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def commands(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w/])/[a-z]+", text))


def q(type_: QuestionType, **values: Any) -> Question:
    return Question(id="q", type=type_, text="?", **values)


def refused(question: Question, text: str, t: i18n.Translation) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(question, text, t)
    return str(caught.value)


CHOICES = (Choice("a", "A"), Choice("b", "B"), Choice("c", "C"))


# The catalogs


def test_the_template_holds_exactly_what_the_sources_mark() -> None:
    """Fails when a text was added, changed or removed without ``make catalogs``."""
    now = extracted()
    assert (texts.GOODBYE,) in now and tuple(texts.PICK_MORE) in now
    assert ("Please reply yes or no.",) in now  # answers.py's t.gettext calls
    assert ids(catalog(LOCALE / "surveybot.pot")) == now


def test_every_language_but_english_has_a_catalog_and_every_catalog_a_language() -> None:
    found = sorted(p.parent.parent.name for p in LOCALE.glob("*/LC_MESSAGES/surveybot.po"))
    assert found == sorted(TRANSLATED)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_with_its_placeholders_commands_and_plural_forms(language: str) -> None:
    template = catalog(LOCALE / "surveybot.pot")
    translated = catalog(LOCALE / language / "LC_MESSAGES" / "surveybot.po", language)
    assert translated.plural_forms == "nplurals=2; plural=(n != 1);"
    assert ids(translated) == ids(template), "run make catalogs"
    for message in translated:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        english = forms(message.id)
        translations = forms(message.string)
        assert len(translations) == (translated.num_plurals if message.pluralizable else 1), message.id
        for form in translations:
            assert form.strip(), message.id
            assert fields(form) == fields(english[0]), (message.id, form)
            assert commands(form) == commands(english[0]), (message.id, form)


def test_placeholders_and_commands_are_seen() -> None:
    assert fields("Hi {name}! “{title}” {{x}}") == {"name", "title"}
    assert commands(texts.HELP) >= {"/start", "/back", "/optin", "/help"}
    assert commands("the command /{command}, 1/2") == set()


# Texts said in a language


def test_english_is_the_texts_themselves() -> None:
    assert translation(None) is ENGLISH and translation("en") is ENGLISH and translation("fr") is ENGLISH
    assert ENGLISH.gettext(texts.HELP) == texts.HELP
    assert ENGLISH.plural(texts.PICK_FEWER, 2).format(n=2) == "Please pick at most 2."
    assert ENGLISH.plural(texts.PICK_MORE, 1).format(n=1) == "Please pick at least 1."
    assert hint(q(T.MULTI_CHOICE, choices=CHOICES, max_choices=2)) == (
        "Please reply with the numbers of your choices, separated by commas (choose at most 2)."
    )
    assert refused(q(T.TEXT, min_length=3), "ab", ENGLISH) == (
        "Please reply with at least 3 characters (yours has 2)."
    )
    assert refused(q(T.TEXT, max_length=1), "ab", ENGLISH) == (
        "Please reply with at most 1 character (yours has 2)."
    )


def test_a_language_is_read_once() -> None:
    assert translation("de") is DE and DE.language == "de"


def test_module_texts_are_said_in_the_language() -> None:
    assert DE.gettext(texts.GOODBYE) == "Vielen Dank! Ihre Antworten wurden gespeichert."
    assert ES.gettext(texts.BUTTON_SKIP) == "Omitir"
    assert DE.gettext(texts.STILL_PAUSED).format(title="Mittag") == (
        "Ihre Umfrage „Mittag“ ist pausiert. Senden Sie /start, um fortzufahren."
    )
    assert "/optout – " in ES.gettext(texts.HELP)


@pytest.mark.parametrize(
    ("t", "n", "expected"),
    [
        (DE, 1, "Bitte wählen Sie mindestens 1 Antwort aus."),
        (DE, 2, "Bitte wählen Sie mindestens 2 Antworten aus."),
        (ES, 1, "Elija al menos 1 respuesta."),
        (ES, 2, "Elija al menos 2 respuestas."),
    ],
)
def test_plural_texts_take_the_form_of_the_number(t: i18n.Translation, n: int, expected: str) -> None:
    assert t.plural(texts.PICK_MORE, n).format(n=n) == expected


@pytest.mark.parametrize(
    ("t", "question", "expected"),
    [
        (DE, q(T.YES_NO), "Bitte antworten Sie mit Ja oder Nein."),
        (ES, q(T.RATING), "Responda con un número de 1 a 5."),
        (
            DE,
            q(T.DATE, min_date="2025-01-01"),
            "Bitte antworten Sie mit einem Datum ab 2025-01-01 im Format JJJJ-MM-TT.",
        ),
        (ES, q(T.NUMBER, integer=True, max_value=9.0), "Responda con un número entero menor o igual que 9."),
        (
            DE,
            q(T.MULTI_CHOICE, choices=CHOICES, max_choices=1),
            "Bitte antworten Sie mit den Nummern der gewünschten Antworten, durch Kommas getrennt "
            "(höchstens 1 Antwort).",
        ),
        (
            ES,
            q(T.MULTI_CHOICE, choices=CHOICES, min_choices=2),
            "Responda con los números de las opciones que elija, separados por comas (al menos 2 opciones).",
        ),
        (DE, q(T.TEXT), ""),
    ],
)
def test_hints_are_translated(t: i18n.Translation, question: Question, expected: str) -> None:
    assert hint(question, t) == expected


@pytest.mark.parametrize(
    ("t", "question", "text", "expected"),
    [
        (ES, q(T.TEXT, max_length=1), "ab", "Responda con 1 carácter como máximo (su respuesta tiene 2)."),
        (ES, q(T.TEXT, max_length=2), "abc", "Responda con 2 caracteres como máximo (su respuesta tiene 3)."),
        (
            DE,
            q(T.MULTI_CHOICE, choices=CHOICES, max_choices=1),
            "1, 2",
            "Bitte wählen Sie höchstens 1 Option aus.",
        ),
        (
            DE,
            q(T.MULTI_CHOICE, choices=CHOICES, max_choices=2),
            "1,2,3",
            "Bitte wählen Sie höchstens 2 Optionen aus.",
        ),
        (
            DE,
            q(T.MULTI_CHOICE, choices=CHOICES),
            "1, x",
            "'x' kenne ich nicht. Bitte antworten Sie mit den Nummern der gewünschten Antworten (1-3), "
            "durch Kommas getrennt.",
        ),
        (
            ES,
            q(T.SINGLE_CHOICE, choices=CHOICES),
            "9",
            "Responda con el número de la opción que elija (1-3) o con su nombre.",
        ),
        (DE, q(T.DATE), "2025-02-30", "Bitte antworten Sie mit einem gültigen Datum im Format JJJJ-MM-TT."),
        (
            ES,
            q(T.EMAIL),
            "nobody",
            "Responda con una dirección de correo electrónico válida, como nombre@example.com.",
        ),
        (DE, q(T.TEXT), "\x00", "Bitte antworten Sie ohne Steuerzeichen."),
        (ES, q(T.NPS), "11", "Responda con un número entero de 0 a 10."),
    ],
)
def test_errors_are_translated(t: i18n.Translation, question: Question, text: str, expected: str) -> None:
    assert refused(question, text, t) == expected


# Yes and no


@pytest.mark.parametrize(
    ("t", "text", "expected"),
    [
        (DE, "ja", True),
        (DE, "Ja, gern", True),
        (DE, "J", True),
        (DE, "Nein.", False),
        (DE, "nö", False),
        (ES, "sí", True),
        (ES, "si", True),
        (ES, "¡Sí!", True),
        (ES, "SÍ, claro", True),
        (ES, "no, gracias", False),
        (ES, "«no»", False),
        *((t, "yes", True) for t in (ENGLISH, DE, ES)),
        *((t, "No", False) for t in (ENGLISH, DE, ES)),
        *((t, "true", True) for t in (ENGLISH, DE, ES)),
    ],
)
def test_yes_and_no_in_the_language_and_in_english(t: i18n.Translation, text: str, expected: bool) -> None:
    assert parse_answer(q(T.YES_NO), text, t) is expected


@pytest.mark.parametrize(
    ("t", "text"),
    [(ENGLISH, "ja"), (ENGLISH, "sí"), (DE, "si"), (ES, "ja"), (DE, "vielleicht"), (ES, "quizás")],
)
def test_words_of_other_languages_are_not_yes_or_no(t: i18n.Translation, text: str) -> None:
    assert refused(q(T.YES_NO), text, t) == t.gettext("Please reply yes or no.")


@pytest.mark.parametrize("t", [ENGLISH, DE, ES])
def test_no_word_is_both_yes_and_no(t: i18n.Translation) -> None:
    assert t.yes_words and t.no_words and not t.yes_words & t.no_words
    assert {"yes", "y", "true"} <= t.yes_words and {"no", "n", "false"} <= t.no_words


def test_accents_and_case_are_folded() -> None:
    assert {"sí", "si"} <= ES.yes_words
    assert i18n.fold("SÍ") == "si" and i18n.fold("Nö") == "no"


@pytest.mark.parametrize(("t", "yes", "no"), [(ENGLISH, "yes", "no"), (DE, "ja", "nein"), (ES, "sí", "no")])
def test_yes_no_answers_read_in_the_language(t: i18n.Translation, yes: str, no: str) -> None:
    assert (display(q(T.YES_NO), True, t), display(q(T.YES_NO), False, t)) == (yes, no)


# Choosing a language


@pytest.mark.parametrize(
    ("wanted", "available", "expected"),
    [
        (["de"], LANGUAGES, "de"),
        (["de-DE"], LANGUAGES, "de"),
        (["de_AT"], LANGUAGES, "de"),
        (["DE"], LANGUAGES, "de"),
        (["es-419"], LANGUAGES, "es"),
        (["fr", "es-MX", "de"], LANGUAGES, "es"),
        (["fr", "it"], LANGUAGES, None),
        ([], LANGUAGES, None),
        (["", "*", " "], LANGUAGES, None),
        (["de"], [], None),
        (["pt-BR"], ["pt-PT", "pt-br", "pt"], "pt-br"),
        (["pt-AO"], ["pt-PT", "pt"], "pt"),
        (["pt"], ["pt-PT"], "pt-PT"),
        (["d"], LANGUAGES, None),
        (["deu"], LANGUAGES, None),
    ],
)
def test_negotiate(wanted: list[str], available: list[str], expected: str | None) -> None:
    assert negotiate(wanted, available) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-CH, fr;q=0.9, en;q=0.8, *;q=0.5", ["de-CH", "fr", "en"]),
        ("en;q=0.5, es;q=0.7, de", ["de", "es", "en"]),
        ("en;q=0.8, es;q=0.8", ["en", "es"]),
        ("es;q=0, de;q=0.000", []),
        ("es;q=2, de;q=x, en;q=0.5;level=1, fr;Q=1.0, it", ["fr", "it"]),
        ("de;q=1.0001, e$s, , ;q=0.5, en-US", ["en-US"]),
        ("", []),
        ("*", []),
        ("de_AT", ["de_AT"]),
    ],
)
def test_parse_accept_language(header: str, expected: list[str]) -> None:
    assert parse_accept_language(header) == expected


def test_accept_language_is_read_only_so_far() -> None:
    assert len(parse_accept_language(",".join(["de"] * 10_000))) == i18n.MAX_RANGES
    assert parse_accept_language("x" * i18n.MAX_HEADER + ",de") == []
    assert parse_accept_language(" " * (i18n.MAX_HEADER - 3) + ",de") == ["de"]


def test_what_is_not_fully_translated_or_is_fuzzy_reads_in_english() -> None:
    half = Catalog(locale="de")
    half.add("Done", "Fertig")
    half.add("Back", "")
    half.add("Skip", "Überspringen", flags=["fuzzy"])
    half.add(("{n} option", "{n} options"), ("{n} Option", ""))
    half.add(("{n} answer", "{n} answers"), ("{n} Antwort", "{n} Antworten"))
    compiled = i18n.compile_catalog(half)
    assert [compiled.gettext(text) for text in ("Done", "Back", "Skip")] == ["Fertig", "Back", "Skip"]
    assert compiled.ngettext("{n} option", "{n} options", 1) == "{n} option"
    assert compiled.ngettext("{n} answer", "{n} answers", 2) == "{n} Antworten"


def test_plural_is_a_pair_of_english_forms() -> None:
    assert Plural("a {n}", "b {n}") == ("a {n}", "b {n}")
    assert ENGLISH.plural(Plural("{n} thing", "{n} things"), 1) == "{n} thing"
    assert DE.ngettext("not in the catalog", "not in the catalogs", 2) == "not in the catalogs"


def test_language_names_are_their_own() -> None:
    assert [i18n.language_name(code) for code in LANGUAGES] == ["English", "Deutsch", "Español"]
    assert i18n.language_name("pt-BR") == "Português (Brasil)"
    assert i18n.language_name("xx") == "xx"
