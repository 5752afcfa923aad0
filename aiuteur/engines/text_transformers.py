"""Text engine: an in-process transformers causal LM with llguidance-constrained JSON.

Used by the studio and lite profiles on a GPU and by the tiny profile everywhere (tests, CI): the
same class, the same `from_pretrained` path. Structured output goes through an llguidance logits
processor built from the pydantic schema (no free whitespace), with a token budget sized to the
schema's worst case (`schema_bounds`), so generation always ends; an output that does not end
with end-of-sequence raises `TruncatedError`. Why llguidance: `docs/constrained-decoding.md`.

Example:
    engine = TransformersText.from_spec({"backend": "transformers", "model": "tiny/text"}, models_dir)
    cast = engine.generate([{"role": "user", "content": "Who is in the scene?"}], Cast, seed=0)
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from aiuteur.engines import usage
from aiuteur.engines.base import (
    EngineError,
    Message,
    ProgressFn,
    TruncatedError,
    raise_if_stopped,
    stop_requested,
)
from aiuteur.engines.copy_guard import CopyGuard
from aiuteur.engines.schema_bounds import (
    json_schema_of,
    llguidance_json_options,
    parse_structured,
    token_budget,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

#: Models below this many parameters run on one thread: thread overhead dominates (5 vs 16 ms/token).
SMALL_MODEL_PARAMS = 50_000_000


def resolve_model_source(model: str, models_dir: Path) -> str:
    """A folder under the models folder if it exists (tiny builds, local copies), else a hub id."""
    local = Path(model).expanduser()
    if local.is_absolute():
        return str(local)
    under = Path(models_dir) / model
    if under.exists():
        return str(under)
    return model


class TransformersText:
    """A transformers causal LM behind the `TextEngine` Protocol.

    Components (plain attributes): `model` (a `PreTrainedModel`), `tokenizer` (with a chat
    template), `ll_tokenizer` (llguidance's view of the vocabulary, built once), `device`.
    """

    backend = "transformers"

    def __init__(self, model: Any, tokenizer: Any, *, model_id: str, threads: int | None = None) -> None:
        import llguidance.hf

        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = next(model.parameters()).device
        self.vocab_size = int(model.config.vocab_size)
        self.ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=self.vocab_size)
        self.eos_ids = _eos_ids(model, tokenizer)
        n_params = sum(p.numel() for p in model.parameters())
        self.memory_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        self.threads = threads or _default_threads(n_params)
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()  # one generation at a time per loaded model

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> TransformersText:
        """Load the model named by a profile's [text] table (`model`, optional `gguf_file`, `dtype`)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if "model" not in spec:
            raise EngineError(
                "The [text] table of this profile has no 'model' key (a hub id or folder name)."
            )
        source = resolve_model_source(str(spec["model"]), models_dir)
        extra: dict[str, Any] = {}
        model: Any
        if spec.get("gguf_file"):
            extra["gguf_file"] = spec["gguf_file"]
        cuda = torch.cuda.is_available() and spec.get("device", "auto") != "cpu"
        dtype = getattr(torch, spec.get("dtype", "bfloat16" if cuda else "float32"))
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **extra)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **extra)
        except OSError as e:
            raise EngineError(
                f"Could not load the text model '{spec['model']}' from {source}: {e}. "
                "Download it first (huggingface-cli download …) or pick another profile."
            ) from e
        if cuda:
            model = model.to("cuda")
        model.eval()
        if tokenizer.chat_template is None:
            raise EngineError(
                f"The tokenizer of '{spec['model']}' has no chat template; use an instruct model."
            )
        threads = int(os.environ["AIUTEUR_THREADS"]) if os.environ.get("AIUTEUR_THREADS") else None
        return cls(model, tokenizer, model_id=str(spec["model"]), threads=threads)

    # -- structured ---------------------------------------------------------------------------

    def generate(
        self,
        messages: list[Message],
        schema: type[M],
        *,
        seed: int,
        max_tokens: int | None = None,
        temperature: float = 0.7,
        progress: ProgressFn | None = None,
        avoid_copying: Sequence[str] = (),
    ) -> M:
        """Return an instance of `schema`; constrained decoding makes anything else impossible.
        `avoid_copying`: texts the answer may not repeat word for word (`engines.copy_guard`)."""
        budget = token_budget(schema)  # also rejects unbounded schemas before any work
        if max_tokens is not None:
            budget = min(budget, max_tokens)
        grammar = self._grammar(schema)
        enc = self._encode(messages)
        processor = LLGuidanceProcessor(self.ll_tokenizer, grammar, self.vocab_size)
        if progress:
            progress(0.0, f"writing {schema.__name__} with {self.model_id}")
        processors: list[Any] = [processor]
        if avoid_copying:
            processors.append(CopyProcessor(self.copy_guard(avoid_copying)))
        new = self._generate_ids(enc, budget, seed, temperature, processors)
        usage.record(int(enc["input_ids"].shape[1]), len(new))
        if progress:
            progress(1.0, f"{len(new)} tokens")
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        if not new or new[-1] not in self.eos_ids:
            raise TruncatedError(
                f"{schema.__name__} was cut off after {len(new)} tokens (budget {budget}) before the model "
                "finished; raise max_tokens or tighten the schema's bounds."
            )
        if processor.error:
            raise EngineError(
                f"The JSON constraint failed while writing {schema.__name__}: {processor.error}"
            )
        return parse_structured(text, schema)

    # -- free text ----------------------------------------------------------------------------

    def stream(
        self, messages: list[Message], *, seed: int, max_tokens: int = 512, temperature: float = 0.7
    ) -> Iterator[str]:
        """Yield text pieces as they are generated (free text, unconstrained)."""
        from transformers import TextIteratorStreamer

        enc = self._encode(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self._generate_ids(enc, max_tokens, seed, temperature, [], streamer=streamer)
            except BaseException as e:  # surfaced in the consumer below
                failure.append(e)
                streamer.end()

        context = contextvars.copy_context()  # the worker sees this job's stop check
        worker = threading.Thread(target=context.run, args=(work,), name="aiuteur-text-stream", daemon=True)
        worker.start()
        pieces = 0
        try:
            for piece in streamer:
                if piece:
                    pieces += 1  # a decoded piece is about one token
                    yield piece
        finally:
            usage.record(int(enc["input_ids"].shape[1]), pieces)
        worker.join()
        if failure:
            raise failure[0]

    # -- helpers ------------------------------------------------------------------------------

    def copy_guard(self, sources: Sequence[str]) -> CopyGuard:
        """A `CopyGuard` over `sources` in this tokenizer's tokens."""
        def tokenize(text: str) -> list[int]:
            return [int(t) for t in self.tokenizer.encode(text, add_special_tokens=False)]

        def starts_lower_word(token: int) -> bool:
            piece = str(self.tokenizer.convert_ids_to_tokens(token) or "")
            return len(piece) >= 2 and piece[0] in "Ġ▁ " and piece[1].islower()

        return CopyGuard(sources, tokenize, starts_lower_word)

    def _grammar(self, schema: type[BaseModel]) -> str:
        import llguidance

        key = f"{schema.__module__}.{schema.__qualname__}"
        if key not in self._grammars:
            text = json.dumps(json_schema_of(schema))
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                text, defaults=llguidance_json_options()
            )
            is_err, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self.ll_tokenizer)
            if is_err:
                raise EngineError(f"llguidance cannot compile the schema {schema.__name__}: {messages}")
            self._grammars[key] = grammar
        return self._grammars[key]

    def _encode(self, messages: list[Message]) -> dict[str, Any]:
        enc = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return {k: v.to(self.device) for k, v in enc.items()}

    def _generate_ids(
        self,
        enc: dict[str, Any],
        max_new_tokens: int,
        seed: int,
        temperature: float,
        processors: list[Any],
        streamer: Any = None,
    ) -> list[int]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        class Stopped(StoppingCriteria):  # a stopped job ends after the current token
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop_requested(), dtype=torch.bool,
                                  device=input_ids.device)

        sample = temperature > 0
        options: dict[str, Any] = {"do_sample": sample}
        if sample:  # top_k/top_p stay as the model's generation_config recommends
            options.update(temperature=temperature)
        else:
            options.update(temperature=None, top_k=None, top_p=None)
        with (
            self._lock,
            _threads(self.threads if self.device.type == "cpu" else None),
            torch.inference_mode(),
        ):
            torch.manual_seed(seed)
            out = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                logits_processor=LogitsProcessorList(processors),
                eos_token_id=sorted(self.eos_ids),
                pad_token_id=self.tokenizer.pad_token_id or min(self.eos_ids),
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([Stopped()]),
                **options,
            )
        raise_if_stopped(f"writing with {self.model_id}")
        return [int(t) for t in out[0, enc["input_ids"].shape[1] :]]


class CopyProcessor:
    """A transformers logits processor that turns the answer aside where it starts to copy its
    source (`engines.copy_guard`); after the grammar's mask, so it never leaves no token open."""

    def __init__(self, guard: CopyGuard) -> None:
        self.guard = guard

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        ids = [int(t) for t in input_ids[0].tolist()]
        ban = self.guard.to_ban(ids, torch.isfinite(scores[0]).cpu().numpy())
        if not ban:
            return scores
        out = scores.clone()
        out[0, ban] = float("-inf")
        return out


class LLGuidanceProcessor:
    """A transformers logits processor that masks every token the JSON grammar forbids.

    One instance per `generate()` call (it holds the matcher state); batch size 1.
    """

    def __init__(self, ll_tokenizer: Any, grammar: str, vocab_size: int) -> None:
        import llguidance
        import llguidance.torch
        import torch

        self.matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
        self.mask = llguidance.torch.allocate_token_bitmask(1, vocab_size)
        self.bits = torch.arange(32, dtype=torch.int32)
        self.started = False
        self.error = ""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import llguidance.torch
        import torch

        if self.started:
            self.matcher.consume_token(int(input_ids[0, -1]))
            if self.matcher.is_error():
                self.error = self.matcher.get_error()
        self.started = True
        llguidance.torch.fill_next_token_bitmask(self.matcher, self.mask, 0)
        # Unpack the 32-bit words into one bool per token (apply_token_bitmask_inplace is a
        # torch.compile kernel: pointless on CPU).
        mask = self.mask[0].to(scores.device)
        allowed = ((mask.unsqueeze(1) >> self.bits.to(scores.device)) & 1).bool().flatten()[: scores.shape[1]]
        if allowed.shape[0] < scores.shape[1]:  # padded embedding rows beyond the tokenizer
            pad = allowed.new_zeros(scores.shape[1] - allowed.shape[0])
            allowed = torch.cat([allowed, pad])
        return scores.masked_fill(~allowed, float("-inf"))


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise EngineError("The text model declares no end-of-sequence token; cannot detect truncation.")
    return ids


def _default_threads(n_params: int) -> int | None:
    """1 for tiny models; None (torch's own default) for real ones."""
    return 1 if n_params < SMALL_MODEL_PARAMS else None


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run torch on `n` threads for the block (restored after: other engines share the process)."""
    import torch

    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
