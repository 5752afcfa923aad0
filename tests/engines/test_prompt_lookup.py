"""Prompt lookup: the guess of the next tokens is what followed the same tokens earlier on."""

from __future__ import annotations

import pytest

from aiuteur.engines.prompt_lookup import PromptLookup, next_length


def test_the_guess_is_what_followed_the_last_tokens_where_they_last_stood() -> None:
    prompt = [7, 1, 2, 3, 4, 5, 6, 9, 1, 2, 3, 8, 8]
    lookup = PromptLookup(prompt, n=3, most=4)
    assert lookup.guess() == []  # "3 8 8" stands nowhere earlier
    lookup.extend([1, 2, 3])
    assert lookup.guess() == [8, 8, 1, 2]  # the latest earlier "1 2 3" (index 8) was followed by 8 8 …
    assert lookup.guess(most=1) == [8]


def test_the_guess_grows_with_the_answer_and_never_runs_past_the_end() -> None:
    lookup = PromptLookup([5, 6, 7, 8], n=2, most=10)
    lookup.extend([5, 6])
    assert lookup.guess() == [7, 8, 5, 6]  # what followed "5 6" up to the end of what is written
    lookup.extend([7])
    assert lookup.guess() == [8, 5, 6, 7]


def test_too_short_a_text_or_a_bad_setting_gives_no_guess() -> None:
    assert PromptLookup([1], n=3).guess() == []
    assert PromptLookup([], n=1).guess() == []
    with pytest.raises(ValueError):
        PromptLookup([1, 2], n=0)


def test_the_guess_lengthens_after_a_whole_hit_and_shortens_after_a_miss() -> None:
    assert next_length(4, kept=4, guessed=4) == 6
    assert next_length(10, kept=10, guessed=10, most=10) == 10
    assert next_length(6, kept=0, guessed=6) == 2
    assert next_length(6, kept=3, guessed=6) == 4
