"""The five-question survey the benchmarks share, and the answers their respondents give: a single
choice, a rating 1–5, yes/no, free text and a number 1–500 (what issue 11's comparison asks for)."""

SURVEY = """\
id: five
title: Five
settings: {one_response_per_user: false}
questions:
  - {id: flavour, type: single_choice, text: "Flavour?", choices: [Vanilla, Chocolate, Strawberry]}
  - {id: stars, type: rating, text: "How good?", min: 1, max: 5}
  - {id: again, type: yes_no, text: "Again?"}
  - {id: why, type: text, text: "Why?"}
  - {id: spend, type: number, text: "How much?", min: 1, max: 500, integer: true}
"""
ANSWERS = ["2", "4", "yes", "Creamy and cold.", "12"]
