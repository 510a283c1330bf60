"""Result charts as PNG, rendered server-side with matplotlib's Agg renderer (no pyplot, no global state).

One chart per question that has answers: a bar chart of the counts for choices, yes/no and dates, a
histogram for ratings, NPS and numbers. Every chart is :data:`WIDTH` x :data:`HEIGHT` pixels and draws its
bars in :data:`BAR_COLOUR`, with white edges so that neighbouring bars stay apart. The admin API serves
them, ``surveybot results --charts`` writes them, and the Telegram and Slack results commands send them.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from bot.results import COUNTED_TYPES, SCALE_TYPES, Count, QuestionSummary, SurveySummary
from bot.survey import QuestionType

WIDTH, HEIGHT, DPI = 800, 450, 100
BAR_COLOUR = "#2f6fb3"
TEXT_COLOUR = "#222222"
MUTED_COLOUR = "#666666"
MAX_BARS = 30
"""A bar chart shows at most this many values (the most frequent); histograms bin numbers instead."""
MAX_BINS = 12


@dataclass(frozen=True)
class Chart:
    name: str
    """A file name without extension: the question id."""
    title: str
    png: bytes


@dataclass(frozen=True)
class Bar:
    label: str
    count: int


_LOCK = threading.Lock()
"""matplotlib is not thread-safe (its font objects are shared): one chart at a time per process."""


def render_charts(summary: SurveySummary) -> list[Chart]:
    """The charts of every question with answers, in the survey's order. CPU-bound: in a server, run it
    in a worker thread."""
    with _LOCK:
        return [chart for question in summary.questions if (chart := _chart(question)) is not None]


def _chart(question: QuestionSummary) -> Chart | None:
    if not question.answered:
        return None
    if question.type in COUNTED_TYPES:
        png = _bar_chart(question)
    elif question.type in SCALE_TYPES:
        png = _histogram(question)
    else:
        return None
    return Chart(name=question.id, title=question.text, png=png)


def bar_values(question: QuestionSummary) -> list[Bar]:
    """The bars of a bar chart: every value in order, or the :data:`MAX_BARS` most frequent ones."""
    counts: Sequence[Count] = question.counts
    if len(counts) > MAX_BARS:
        kept = sorted(counts, key=lambda c: -c.count)[:MAX_BARS]
        counts = [c for c in counts if c in kept]
    return [Bar(c.label, c.count) for c in counts]


def histogram_bins(question: QuestionSummary) -> list[Bar]:
    """The bars of a histogram: one per value of a rating or NPS scale, or of whole numbers spanning
    at most :data:`MAX_BINS` values; else :data:`MAX_BINS` equal bins."""
    values = [(float(c.value), c.count) for c in question.counts]
    if question.type is not QuestionType.NUMBER:
        return [Bar(c.value, c.count) for c in question.counts]
    if not values:
        return []
    low, high = min(v for v, _ in values), max(v for v, _ in values)
    if all(v.is_integer() for v, _ in values) and high - low < MAX_BINS:
        given = dict(values)
        return [Bar(str(n), int(given.get(float(n), 0))) for n in range(int(low), int(high) + 1)]
    width = (high - low) / MAX_BINS
    bins = [0] * MAX_BINS
    for value, count in values:
        bins[min(int((value - low) / width), MAX_BINS - 1)] += count
    return [Bar(f"{_short(low + i * width)}–{_short(low + (i + 1) * width)}", n) for i, n in enumerate(bins)]


def _short(value: float) -> str:
    return f"{value:.3g}"


# --- drawing ------------------------------------------------------------------------------------------


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=TEXT_COLOUR, labelsize=9)
    return figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _title(figure: Figure, question: QuestionSummary, subtitle: str) -> None:
    lines = textwrap.wrap(_drawable(question.text), 80, max_lines=2, placeholder=" …")
    figure.suptitle("\n".join(lines), x=0.02, y=0.97, ha="left", va="top", fontsize=12, color=TEXT_COLOUR)
    figure.text(0.02, 0.02, _drawable(subtitle), fontsize=9, color=MUTED_COLOUR)


def _answers(question: QuestionSummary) -> str:
    return f"{question.answered} answer{'' if question.answered == 1 else 's'}"


def _bar_chart(question: QuestionSummary) -> bytes:
    """Horizontal bars, first value at the top, each with its count and share written beside it."""
    bars = bar_values(question)
    figure, axes = _figure()
    labels = [_drawable(textwrap.shorten(b.label, 34, placeholder="…")) for b in bars]
    positions = list(range(len(bars)))
    axes.barh(positions, [b.count for b in bars], height=0.7, color=BAR_COLOUR, edgecolor="white")
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    top = max((b.count for b in bars), default=0)
    axes.set_xlim(0, max(1.0, top * 1.18))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for position, bar in zip(positions, bars, strict=True):
        share = f"{round(100 * bar.count / question.answered)}%" if question.answered else ""
        axes.text(bar.count, position, f" {bar.count} ({share})", va="center", fontsize=9, color=TEXT_COLOUR)
    subtitle = _answers(question)
    if question.type is QuestionType.MULTI_CHOICE:
        subtitle += "; several choices per answer, shares of the answers"
    if len(bars) < len(question.counts):
        subtitle += f"; the {len(bars)} most frequent of {len(question.counts)} values"
    _title(figure, question, subtitle)
    figure.subplots_adjust(left=0.3, right=0.97, top=0.84, bottom=0.12)
    return _png(figure)


def _histogram(question: QuestionSummary) -> bytes:
    """Vertical bars over the scale (or the bins of numbers), with mean, median and NPS below."""
    bars = histogram_bins(question)
    figure, axes = _figure()
    positions = list(range(len(bars)))
    axes.bar(positions, [b.count for b in bars], width=0.9, color=BAR_COLOUR, edgecolor="white")
    rotate = max((len(b.label) for b in bars), default=0) > 4
    axes.set_xticks(
        positions,
        [_drawable(textwrap.shorten(b.label, 18, placeholder="…")) for b in bars],
        rotation=30 if rotate else 0,
        ha="right" if rotate else "center",
    )
    top = max((b.count for b in bars), default=0)
    axes.set_ylim(0, max(1.0, math.ceil(top * 1.15)))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    parts = [_answers(question)]
    if question.mean is not None and question.median is not None:
        parts.append(f"mean {question.mean:.2f}".rstrip("0").rstrip("."))
        parts.append(f"median {question.median:g}")
    if question.nps is not None:
        parts.insert(0, f"NPS {question.nps:+.0f}")
    _title(figure, question, " · ".join(parts))
    figure.subplots_adjust(left=0.08, right=0.97, top=0.84, bottom=0.22 if rotate else 0.14)
    return _png(figure)


# --- text the default font can draw -------------------------------------------------------------------


@cache
def _font_characters() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    return frozenset(FT2Font(path).get_charmap())


def _drawable(text: str) -> str:
    """``text`` without what would trip matplotlib: ``$`` (mathtext) escaped, characters that the font
    lacks (emoji) replaced, so that no glyph warning is raised."""
    known = _font_characters()
    shown = "".join(ch if ord(ch) in known or ch == "\n" else "□" for ch in text)
    return shown.replace("$", r"\$")
