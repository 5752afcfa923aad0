"""The copy guard: a model retelling a story cannot carry on copying it word for word."""

from __future__ import annotations

import re
from typing import Annotated

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, StringConstraints

from aiuteur.engines.base import Message
from aiuteur.engines.copy_guard import COPY_TOKENS, CopyGuard
from aiuteur.engines.profiles import load_profile

SOURCE = ("Brannock is not a clever goat, but he is a talking one, which in the village of Hessock is rarer "
          "than cleverness. So Oriel lights her lantern and walks into the white tunnels.")


def _vocab() -> tuple[dict[str, int], list[str]]:
    words = sorted({w for w in re.findall(r"\w+|[^\w\s]", SOURCE + " Oriel walks away quickly")})
    pieces = [" " + w for w in words] + [w for w in words]
    return {p: i for i, p in enumerate(pieces)}, pieces


def _word_guard() -> tuple[CopyGuard, dict[str, int], list[str]]:
    ids, pieces = _vocab()

    def tokenize(text: str) -> list[int]:  # one token per word, with its leading space
        return [ids[m.group(0)] for m in re.finditer(r" ?(?:\w+|[^\w\s])", text)]

    def lower_word(token: int) -> bool:
        return pieces[token].startswith(" ") and pieces[token][1:2].islower()

    return CopyGuard([SOURCE], tokenize, lower_word), ids, pieces


def test_the_next_ordinary_word_of_a_copied_run_is_banned_and_nothing_else() -> None:
    guard, ids, _ = _word_guard()
    prompt = [ids[" Oriel"]] * 3
    assert guard.banned(prompt) == set()  # the first call is the prompt
    copied = [ids[w] for w in (" Brannock", " is", " not", " a", " clever")]
    assert len(copied) == COPY_TOKENS
    assert guard.banned(prompt + copied) == {ids[" goat"]}
    assert guard.banned(prompt + copied[:-1]) == set()  # fewer than COPY_TOKENS copied: free
    # A name is never cut: "Hessock" (capitalised) after "in the village of" is not banned.
    village = [ids[w] for w in (" which", " in", " the", " village", " of")]
    assert guard.banned(prompt + village) == set()
    # Punctuation (the JSON's and the prose's) is never banned.
    rarer = [ids[w] for w in (" Hessock", " is", " rarer", " than", " cleverness")]
    assert guard.banned(prompt + rarer) == set()


def test_a_ban_never_leaves_no_token_open() -> None:
    guard, ids, pieces = _word_guard()
    prompt = [ids[" Oriel"]]
    guard.banned(prompt)
    copied = prompt + [ids[w] for w in (" Brannock", " is", " not", " a", " clever")]
    scores = np.zeros(len(pieces), dtype=np.float32)
    out = np.asarray(guard.apply(copied, scores))
    assert out[ids[" goat"]] == -np.inf and np.isfinite(np.delete(out, ids[" goat"])).all()
    only_goat = np.full(len(pieces), -np.inf, dtype=np.float32)
    only_goat[ids[" goat"]] = 0.0  # the grammar allows nothing else: the ban gives way
    assert np.asarray(guard.apply(copied, only_goat))[ids[" goat"]] == 0.0


def test_the_transformers_processor_bans_the_same_token() -> None:
    import torch

    from aiuteur.engines.text_transformers import CopyProcessor

    guard, ids, pieces = _word_guard()
    processor = CopyProcessor(guard)
    prompt = [ids[" Oriel"]]
    scores = torch.zeros((1, len(pieces)))
    assert torch.equal(processor(torch.tensor([prompt]), scores), scores)
    copied = prompt + [ids[w] for w in (" Brannock", " is", " not", " a", " clever")]
    out = processor(torch.tensor([copied]), scores)
    assert out[0, ids[" goat"]] == float("-inf") and int(torch.isinf(out).sum()) == 1


class Retelling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prose: Annotated[str, StringConstraints(min_length=20, max_length=400)]


def _runs(text: str, n: int = 6) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z']+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.mark.real
def test_the_real_model_asked_to_copy_cannot() -> None:
    """The offline GGUF told to repeat a passage word for word does so without the guard; with it,
    no sentence of the passage comes out whole and at most two runs of six words do."""
    from tests.engines.test_text_llamacpp import _offline_models_dir

    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    from aiuteur.engines.text_llamacpp import LlamaCppText

    engine = LlamaCppText.from_spec(load_profile("offline").spec("text"), where)
    messages: list[Message] = [
        {"role": "system", "content": "You answer in JSON."},
        {"role": "user", "content": f"Repeat this passage exactly, word for word, as `prose`:\n\n{SOURCE}"},
    ]
    free = engine.generate(messages, Retelling, seed=0, temperature=0.0)
    guarded = engine.generate(messages, Retelling, seed=0, temperature=0.0, avoid_copying=[SOURCE])
    copied, kept = _runs(free.prose) & _runs(SOURCE), _runs(guarded.prose) & _runs(SOURCE)
    assert len(copied) >= 10, free.prose  # the model copies when it may
    # Only a run through a name can reach six words ("which in the village of Hessock"), never a sentence.
    assert len(kept) <= 2, (kept, guarded.prose)
    assert not any(s.strip() in guarded.prose for s in re.split(r"(?<=[.!?])\s+", SOURCE)), guarded.prose
    assert "Brannock" in guarded.prose or "Oriel" in guarded.prose, guarded.prose
    print(f"copied 6-word runs: {len(copied)} free, {len(kept)} guarded: {guarded.prose!r}")
