"""Evals: a corpus of labelled stories, run through stages 2-9, measured by transparent metrics.

Layered above `pipeline` (it drives the same `Runner` as the CLI); nothing in the app imports it.
`python -m aiuteur eval --help` runs it; `docs/evals.md` holds the results.
"""
