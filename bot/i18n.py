"""The bot's own texts in the respondent's language: gettext catalogs, language negotiation, yes and no.

The catalogs are the ``.po`` files under ``bot/locale/`` (``make catalogs`` extracts and merges them).
A language's file is read at its first use and compiled in memory, so there is no build step and no
binary file in git. English needs no catalog: its texts are the message ids themselves.

Texts defined at module level are marked with :func:`N_` (one form) or :class:`Plural` (singular and
plural), which return what they are given; the text is looked up when it is said, through the
:class:`Translation` of the respondent's language::

    t = translation("de")
    t.gettext(texts.NO_SURVEYS)
    t.plural(texts.PICK_MORE, n).format(n=n)
"""

from __future__ import annotations

import functools
import gettext
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "de", "es")
"""The languages the bot speaks, as ISO 639-1 codes; each but English has ``bot/locale/CODE/``."""
DEFAULT = "en"
DOMAIN = "surveybot"

MAX_HEADER = 4096
"""Characters of an Accept-Language header read; the rest is ignored."""
MAX_RANGES = 32
"""Language ranges of an Accept-Language header kept at most."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is said (``t.gettext``)."""
    return message


class Plural(NamedTuple):
    """A text with a number in it, in English singular and plural; marked for extraction as such.

    Say it with :meth:`Translation.plural`, which picks the form the language needs for the number."""

    singular: str
    plural: str


_YES = {
    "en": ("yes", "y", "true"),
    "de": ("ja", "j", "jawohl", "jep", "doch", "genau", "klar"),
    "es": ("sí", "si", "s", "claro", "vale", "cierto"),
}
_NO = {
    "en": ("no", "n", "false"),
    "de": ("nein", "n", "nö", "nee", "falsch"),
    "es": ("no", "n", "falso"),
}


def fold(word: str) -> str:
    """``word`` with case and accents folded away, as yes/no words are compared: "Sí" is "si"."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(language: str, table: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """The language's words and English's, each as written (casefolded) and folded."""
    words = {w.casefold() for w in (*table.get(language, ()), *table[DEFAULT])}
    return frozenset(words | {fold(w) for w in words})


@dataclass(frozen=True, eq=False)
class Translation:
    """The bot's texts in one language. Cheap to pass around; get one from :func:`translation`."""

    language: str
    catalog: gettext.NullTranslations
    yes_words: frozenset[str]
    """Words read as yes (folded, see :func:`fold`): the language's and English's."""
    no_words: frozenset[str]
    """Words read as no: the language's and English's."""

    def gettext(self, message: str) -> str:
        """``message`` (an English text marked with :func:`N_`) in this language."""
        return self.catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form of the text that fits the number ``n``, in this language."""
        return self.catalog.ngettext(singular, plural, n)

    def plural(self, text: Plural, n: int) -> str:
        """The form of ``text`` that fits the number ``n``, in this language (not formatted yet)."""
        return self.catalog.ngettext(text.singular, text.plural, n)

    def yes_no(self, word: str) -> bool | None:
        """True for a yes word of this language or English, False for a no word, else None."""
        folded = fold(word)
        if folded in self.yes_words:
            return True
        if folded in self.no_words:
            return False
        return None


ENGLISH = Translation(DEFAULT, gettext.NullTranslations(), _words(DEFAULT, _YES), _words(DEFAULT, _NO))


def translation(language: str | None) -> Translation:
    """The bot's texts in ``language`` (one of :data:`LANGUAGES`); English for None or any other."""
    if language is None or language == DEFAULT or language not in LANGUAGES:
        return ENGLISH
    return _load(language)


@functools.cache
def _load(language: str) -> Translation:
    source = resources.files("bot").joinpath("locale", language, "LC_MESSAGES", f"{DOMAIN}.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    return Translation(language, compile_catalog(catalog), _words(language, _YES), _words(language, _NO))


def compile_catalog(catalog: Catalog) -> gettext.GNUTranslations:
    """``catalog`` as gettext reads it, without what is not fully translated or is fuzzy (unreviewed):
    those texts read in English, never empty. They are deleted from ``catalog``."""
    for message in [m for m in catalog if m.id]:
        forms = (message.string,) if isinstance(message.string, str) else tuple(message.string or ())
        if not forms or not all(forms):
            catalog.delete(message.id, message.context)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@functools.lru_cache(maxsize=256)
def language_name(code: str) -> str:
    """The language's own name, capitalised as in a list: "English", "Deutsch", "Español",
    "Português (Brasil)" for ``pt-BR``; the code itself for one Babel does not know."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name()
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code


def _tag(code: str) -> str:
    return code.strip().replace("_", "-").casefold()


@functools.lru_cache(maxsize=256)
def speaking(*wanted: str | None) -> Translation:
    """The bot's texts in the first language of ``wanted`` it speaks (``de-AT`` finds ``de``; None and
    unknown ones are passed over), else English: for what a platform or a response says."""
    return translation(negotiate(filter(None, wanted), LANGUAGES))


def negotiate(wanted: Iterable[str], available: Iterable[str]) -> str | None:
    """The first language of ``wanted`` (in order of preference) that ``available`` has, as
    ``available`` spells it, or None. Regions and case do not matter: ``de-DE``, ``de_AT`` and ``DE``
    find ``de``, ``es-419`` finds ``es``; an exact match is preferred to one of the language alone."""
    offered = [(code, _tag(code)) for code in available]
    for want in map(_tag, wanted):
        if want and want != "*":
            found = _closest(want, offered)
            if found is not None:
                return found
    return None


def _closest(want: str, offered: list[tuple[str, str]]) -> str | None:
    """The code offered for tag ``want``: the same tag, else its language, else a region of it."""
    primary = want.split("-", 1)[0]
    ranked = sorted(
        (0 if tag == want else 1 if tag == primary else 2, position, code)
        for position, (code, tag) in enumerate(offered)
        if tag.split("-", 1)[0] == primary
    )
    return ranked[0][2] if ranked else None


_RANGE = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")
_QUALITY = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)", re.IGNORECASE)


def parse_accept_language(header: str) -> list[str]:
    """The language tags of an HTTP Accept-Language header, most wanted first (by q-value, then in
    the order written). ``*``, ranges refused with ``q=0`` and malformed parts are left out; only the
    first :data:`MAX_HEADER` characters and :data:`MAX_RANGES` ranges are read."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_HEADER].split(",")):
        if len(weighted) >= MAX_RANGES:
            break
        tag, *params = (p.strip() for p in part.split(";"))
        if not _RANGE.fullmatch(tag):
            continue
        quality = 1.0
        if params:
            matched = _QUALITY.fullmatch(params[0].replace(" ", "")) if len(params) == 1 else None
            if matched is None:
                continue
            quality = float(matched.group(1))
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]
