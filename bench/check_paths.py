"""How long `surveybot check` takes, and how its work grows with a survey's branching (issue 13).

    .venv/bin/python bench/check_paths.py [--rounds 7]

A generated survey of 60 questions with 10 branching rules (the issue's yardstick), then more rules and
more questions: for each, the paths found, the states walked, and the time of ``check_survey`` (the
walk, the findings and every platform's limits) as the median and range of the rounds, with its ratio
to the yardstick's median. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.check import check_survey  # noqa: E402
from bot.loader import load_text  # noqa: E402

KINDS = ("single_choice", "yes_no", "number", "rating")


def branching_survey(questions: int = 60, rules: int = 10) -> str:
    """A survey of ``questions`` questions of every type, ``rules`` of which branch (a ``next`` rule on
    their own answer jumping two to four questions ahead), with a ``show_if`` after every other branch
    naming the answer that branched and placeholders naming earlier answers."""
    every = max(questions // (rules + 1), 1)
    lines = ["id: branching", "title: A long branching survey", "questions:"]
    branched = 0
    shown_if: dict[int, str] = {}
    for n in range(questions):
        qid = f"q{n:03d}"
        kind = KINDS[n % len(KINDS)] if n % every == 0 and branched < rules else "text"
        lines += [f"  - id: {qid}", f"    type: {kind}"]
        earlier = f" (you said {{q{n - 1:03d}}})" if n and n % 5 == 0 else ""
        lines.append(f"    text: Question {n}{earlier}?")
        if n % 7 == 3:
            lines.append("    required: false")
        if kind == "single_choice":
            lines.append("    choices: [Red, Green, Blue, Other]")
        if kind == "number":
            lines += ["    min: 0", "    max: 120", "    integer: true"]
        condition = {
            "single_choice": f"{qid} in ['red', 'blue']",
            "yes_no": f"not {qid}",
            "number": f"{qid} >= 18 and {qid} < 65",
            "rating": f"{qid} <= 2",
            "text": "",
        }[kind]
        target = n + 2 + branched % 3
        if condition and target < questions:
            lines += ["    next:", f'      - {{if: "{condition}", goto: q{target:03d}}}']
            branched += 1
            if branched % 2 == 0 and target + 1 < questions:
                follow = target + 1
                extra = f"q{n:03d} == 'green'" if kind == "single_choice" else f"q{n:03d} != null"
                lines.append(f"    # q{follow:03d} is shown only for some answers of {qid}")
                shown_if[follow] = extra
        if n in shown_if:
            lines.append(f'    show_if: "{shown_if.pop(n)}"')
    return "\n".join(lines) + "\n"


def _time(text: str, rounds: int) -> tuple[list[float], int, int, bool, int]:
    survey = load_text(text, "branching.yaml")
    times = []
    report = check_survey(survey)
    for _ in range(rounds):
        start = time.perf_counter()
        report = check_survey(survey)
        times.append(time.perf_counter() - start)
    return times, report.paths.count, report.paths.states, report.paths.sampled, len(report.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cases = [(60, 10), (60, 20), (60, 40), (120, 10), (240, 10), (240, 40)]
    base: float | None = None
    print(f"check_survey on generated surveys, {args.rounds} rounds each (median, range of the rounds)")
    columns = ("questions", "rules", "paths", "states", "warnings", "median")
    print(" ".join(f"{c:>9}" for c in columns), " range             ratio")
    for questions, rules in cases:
        times, paths, states, sampled, warnings = _time(branching_survey(questions, rules), args.rounds)
        median = statistics.median(times)
        base = base if base is not None else median
        note = " (sampled)" if sampled else ""
        print(
            f"{questions:>9} {rules:>9} {paths:>9} {states:>9} {warnings:>9} {median * 1000:>7.1f}ms "
            f" {min(times) * 1000:.1f}–{max(times) * 1000:.1f} ms   {median / base:.2f}×{note}"
        )


if __name__ == "__main__":
    main()
