"""Every schema a stage sends to a text engine compiles for every constrained backend.

The schemas are found by reading the pipeline's code, not from a hand list: each call of
`ask(text, messages, SCHEMA, …)` and of `<engine>.generate(messages, SCHEMA, …)` in
`aiuteur/pipeline/*.py`, with SCHEMA resolved in its module (a schema factory such as
`scene_schema(cast)` is called with sample casts). Each is compiled to llama.cpp GBNF by
llama-cpp-python's converter through `compact_gbnf` (bounds as `{m,n}`, never nested
optionals) and to llguidance, and loaded into the backend where it is installed: llguidance
with the tiny model's vocabulary always; llama.cpp with the offline GGUF's vocabulary where
llama-cpp-python and the GGUF are present (`real`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import re
from typing import Any

import pytest
from pydantic import BaseModel

import aiuteur.pipeline
from aiuteur.engines.schema_bounds import check_bounded, json_schema_of

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
#: The calls that pass a schema through unresolved: `ask` calling the engine, `ask_retrying` calling `ask`.
PASS_THROUGH = {("aiuteur.pipeline.writing", "schema")}
SAMPLE_CASTS: list[list[str]] = [[], ["ANNA"], ["ANNA KOVAC", "BO", "THE DRIVER"]]
SAMPLE_COUNTS: list[int] = [1, 6, 16]
#: The pipeline's helpers that send a schema to the text engine (text, messages, SCHEMA, ...).
ASKERS = {"ask", "ask_retrying", "ask_bounded"}


def _schema_arg(node: ast.Call) -> ast.expr | None:
    func = node.func
    if isinstance(func, ast.Name) and func.id in ASKERS and len(node.args) >= 3:
        return node.args[2]
    if isinstance(func, ast.Attribute) and func.attr == "generate" and len(node.args) >= 2:
        return node.args[1]
    return None


def stage_schemas() -> dict[str, type[BaseModel]]:
    """Every generation schema the pipeline modules send, by a readable id."""
    found: dict[str, type[BaseModel]] = {}
    unresolved: list[str] = []
    for info in pkgutil.iter_modules(aiuteur.pipeline.__path__):
        module = importlib.import_module(f"aiuteur.pipeline.{info.name}")
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(node, ast.Call) or (arg := _schema_arg(node)) is None:
                continue
            where = f"{module.__name__}:{node.lineno}"
            if isinstance(arg, ast.Name):
                value = getattr(module, arg.id, None)
                if isinstance(value, type) and issubclass(value, BaseModel):
                    found[value.__name__] = value
                elif (module.__name__, arg.id) not in PASS_THROUGH:
                    unresolved.append(f"{where} sends {arg.id!r}")
            elif isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name):
                factory = getattr(module, arg.func.id, None)
                if not callable(factory):
                    unresolved.append(f"{where} calls {arg.func.id!r}")
                    continue
                first = next(iter(inspect.signature(factory).parameters.values()))
                samples: list[Any] = SAMPLE_COUNTS if first.annotation in (int, "int") else SAMPLE_CASTS
                for sample in samples:
                    made = factory(sample)
                    assert isinstance(made, type) and issubclass(made, BaseModel), where
                    found[f"{arg.func.id}({sample})"] = made
            else:
                unresolved.append(f"{where} sends {ast.unparse(arg)!r}")
    assert not unresolved, f"schemas this test cannot resolve (teach it, never skip them): {unresolved}"
    return found


SCHEMAS = stage_schemas()


def _bounds(node: Any) -> list[int]:
    if isinstance(node, dict):
        own = [int(node[k]) for k in ("maxLength", "maxItems") if k in node]
        return own + [b for v in node.values() for b in _bounds(v)]
    if isinstance(node, list):
        return [b for v in node for b in _bounds(v)]
    return []


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_bound_fits_llama_cpp_repetition_limit(name: str) -> None:
    """llama.cpp turns a repetition above 2000 into no bound; our grammar would then be tighter
    than the schema. Keeping every bound within it keeps grammar, schema and budget the same."""
    assert max(_bounds(json_schema_of(SCHEMAS[name])), default=0) <= 2000


def test_the_walk_finds_every_writing_stage() -> None:
    names = set(SCHEMAS)
    for expected in ("VariantDraft", "BeatDraft", "ScriptPlanDraft", "EnrichedActions",
                     "RewrittenPassage"):
        assert expected in names, f"{expected} is sent by a stage but the walk missed it"
    for factory in ("scene_schema(", "beats_schema(", "states_schema(", "shot_list_schema(", "chunk_schema("):
        assert any(n.startswith(factory) for n in names), f"{factory}…) is sent by a stage but the walk missed it"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_llama_cpp_gbnf_has_no_nested_optionals(name: str) -> None:
    if not HAS_LLAMA_CPP:
        pytest.skip("llama-cpp-python is not installed (optional; pip install llama-cpp-python==0.3.36)")
    from aiuteur.engines.text_llamacpp import LLAMA_MAX_REPETITION, compact_gbnf

    schema = SCHEMAS[name]
    check_bounded(schema)
    gbnf = compact_gbnf(json_schema_of(schema))
    assert ")?)?" not in gbnf, f"{name}: a bound compiled to nested optionals"
    for rule in gbnf.splitlines():
        depth = max_depth(rule.split("::=", 1)[1])
        assert depth <= 4, f"{name}: rule nests {depth} deep: {rule[:160]}"
    for low, high in re.findall(r"\{(\d+),(\d*)\}", gbnf):
        assert high and int(high) <= LLAMA_MAX_REPETITION, f"{name}: repetition {{{low},{high}}} is unbounded in llama.cpp"


def max_depth(text: str) -> int:
    depth = deepest = 0
    quote = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"[":
            quote = '"' if ch == '"' else "]"
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_llguidance_accepts_every_schema(name: str, tiny_text: Any) -> None:
    grammar = tiny_text._grammar(SCHEMAS[name])  # compiles and validates against the vocabulary
    assert grammar


def _offline_llama() -> Any:
    from tests.engines.test_text_llamacpp import _offline_models_dir

    where, why = _offline_models_dir()
    if where is None:
        pytest.skip(why)
    import llama_cpp

    from aiuteur.engines.offline_llm import PartsSpec, assemble_gguf, is_assembled
    from aiuteur.engines.profiles import load_profile
    from aiuteur.engines.text_llamacpp import LlamaCppText

    spec = load_profile("offline").spec("text")
    path, parts = where / spec["gguf"], PartsSpec.from_table(dict(spec["assemble"]))
    if not is_assembled(path, parts):  # installed as wheels, not yet joined (as the engine does on load)
        assemble_gguf(path, parts)
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    return LlamaCppText(llm, model_id="vocab-only")


@pytest.mark.real
def test_llama_cpp_loads_every_grammar() -> None:
    """The real check the issue failed on: llama.cpp's own parser accepts each grammar (both constraints)."""
    engine = _offline_llama()
    from aiuteur.engines.text_llamacpp import compact_gbnf

    for name, schema in SCHEMAS.items():
        engine._check_grammar(compact_gbnf(json_schema_of(schema)), name)
        assert engine._ll_grammar(schema)
