"""Charts: valid PNGs of the fixed size, with as many bars drawn as there are values given.

Bars are counted in the pixels: the runs of rows (bar charts) or columns (histograms) that hold the bar
colour. A value nobody gave draws no bar, so the count is that of the non-zero values.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from adapters.reports.charts import BAR_COLOUR, HEIGHT, MAX_BINS, WIDTH, histogram_bins, render_charts
from bot.results import Count, QuestionSummary, SurveySummary
from bot.survey import QuestionType

BAR_RGB = tuple(int(BAR_COLOUR[i : i + 2], 16) for i in (1, 3, 5))


def question(
    qid: str, kind: QuestionType, counts: list[tuple[str, int]], text: str = "A question?", **stats: float
) -> QuestionSummary:
    answered = sum(n for _, n in counts)
    return QuestionSummary(
        id=qid,
        type=kind,
        text=text,
        answered=answered,
        skipped=0,
        reached=answered,
        dropped=0,
        counts=tuple(Count(v, v.title(), n) for v, n in counts),
        **stats,  # type: ignore[arg-type]
    )


def survey(*questions: QuestionSummary) -> SurveySummary:
    return SurveySummary("s", "S", 1, 10, 10, 0, questions)


def image(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    picture = Image.open(io.BytesIO(png))
    picture.verify()
    picture = Image.open(io.BytesIO(png))
    assert (picture.format, picture.size) == ("PNG", (WIDTH, HEIGHT))
    return picture.convert("RGB")


def bars(png: bytes, vertical: bool) -> int:
    pixels = np.asarray(image(png))
    mask = np.all(pixels == BAR_RGB, axis=2)
    profile = mask.any(axis=0 if vertical else 1)
    return int(np.count_nonzero(profile[1:] & ~profile[:-1]) + int(profile[0]))


def test_bar_chart_per_choice() -> None:
    flavour = question("flavour", QuestionType.SINGLE_CHOICE, [("vanilla", 3), ("mint", 0), ("chocolate", 5)])
    [chart] = render_charts(survey(flavour))
    assert (chart.name, chart.title) == ("flavour", "A question?")
    assert bars(chart.png, vertical=False) == 2


def test_bar_charts_for_multi_choice_yes_no_and_dates() -> None:
    many = question("many", QuestionType.MULTI_CHOICE, [(f"c{i}", i % 4) for i in range(9)])
    yes_no = question("ok", QuestionType.YES_NO, [("yes", 7), ("no", 1)])
    dates = question("day", QuestionType.DATE, [("2025-09-18", 2), ("2025-09-19", 1), ("2025-09-20", 4)])
    charts = render_charts(survey(many, yes_no, dates))
    assert [c.name for c in charts] == ["many", "ok", "day"]
    assert [bars(c.png, vertical=False) for c in charts] == [6, 2, 3]


def test_histogram_per_scale_value() -> None:
    counts = [(str(n), c) for n, c in enumerate([0, 0, 1, 0, 0, 0, 2, 3, 0, 4, 5])]
    nps = question("score", QuestionType.NPS, counts, mean=7.9, median=9, nps=40.0, promoters=9)
    stars = question(
        "stars", QuestionType.RATING, [("1", 1), ("2", 1), ("3", 0), ("4", 6), ("5", 2)], mean=3.6
    )
    charts = render_charts(survey(nps, stars))
    assert [bars(c.png, vertical=True) for c in charts] == [5, 4]


def test_histogram_of_numbers() -> None:
    whole = question("guests", QuestionType.NUMBER, [("0", 3), ("1", 1), ("3", 2)], mean=1.3, median=0.5)
    assert [(b.label, b.count) for b in histogram_bins(whole)] == [("0", 3), ("1", 1), ("2", 0), ("3", 2)]
    spread = question("km", QuestionType.NUMBER, [("1.5", 2), ("50", 1), ("100.25", 3)], mean=60.0)
    binned = histogram_bins(spread)
    assert len(binned) == MAX_BINS
    assert [b.count for b in binned if b.count] == [2, 1, 3]
    assert binned[0].label == "1.5–9.73"
    charts = render_charts(survey(whole, spread))
    assert [bars(c.png, vertical=True) for c in charts] == [3, 3]


def test_no_chart_for_free_text_or_without_answers() -> None:
    text = QuestionSummary("why", QuestionType.TEXT, "Why?", answered=4, skipped=0, reached=4, dropped=0)
    none = question("flavour", QuestionType.SINGLE_CHOICE, [("vanilla", 0), ("mint", 0)])
    assert render_charts(survey(text, none)) == []


@pytest.mark.parametrize("text", ["Price in $ or in $$?", "Which ice cream 🍦 do you like? 日本"])
def test_any_text_renders_without_warnings(text: str) -> None:
    """Mathtext dollars and glyphs missing from the font would warn (and warnings fail the suite)."""
    flavour = question("f", QuestionType.SINGLE_CHOICE, [("🍓 $5", 2), ("b", 1)], text=text)
    [chart] = render_charts(survey(flavour))
    assert bars(chart.png, vertical=False) == 2
