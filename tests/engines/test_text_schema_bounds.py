"""The bounded-schema rule: unbounded generation schemas are refused with a message naming the field."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from aiuteur.engines.base import EngineError
from aiuteur.engines.schema_bounds import (
    InvalidOutputError,
    UnboundedSchemaError,
    check_bounded,
    parse_structured,
    token_budget,
    worst_case_bytes,
)
from tests.engines import schemas as s


@pytest.mark.parametrize("schema", [s.Treatment, s.Scene, s.BeatSheet, s.Grid])
def test_bounded_schemas_pass(schema: type[BaseModel]) -> None:
    check_bounded(schema)
    assert token_budget(schema) == worst_case_bytes(schema) + 1


@pytest.mark.parametrize(
    ("schema", "field", "fix"),
    [
        (s.FreeString, "FreeString.title", "max_length"),
        (s.FreeList, "FreeList.names", "maxItems"),
        (s.ExtraKeys, "ExtraKeys", "extra"),
        (s.FreeNumber, "FreeNumber.seconds", "int with ge/le"),
        (s.DeepFree, "DeepFree.items[].text", "max_length"),
    ],
)
def test_unbounded_schema_is_refused_naming_the_field(schema: type[BaseModel], field: str, fix: str) -> None:
    with pytest.raises(UnboundedSchemaError) as info:
        check_bounded(schema)
    assert f"'{field}" in str(info.value)
    assert fix in str(info.value)
    assert isinstance(info.value, EngineError)


def test_worst_case_of_a_pattern_list_is_exact() -> None:
    # {"variants": [{"title": "<12>", "logline": "<12>"} x3]}, spelled as the engines constrain it
    one = len('{"title": "' + "x" * 12 + '", "logline": "' + "y" * 12 + '"}')
    assert worst_case_bytes(s.Treatment) == len('{"variants": []}') + 3 * one + 2 * 2


def test_unanchored_or_open_pattern_is_not_a_bound() -> None:
    for pattern in ("[a-z]{1,5}", "^[a-z]+$", "^[a-z]{1,}$"):
        with pytest.raises(UnboundedSchemaError):
            check_bounded({"title": "P", "type": "string", "pattern": pattern})
    assert worst_case_bytes({"type": "string", "pattern": "^[a-z]{1,5}$"}) == 7
    # A class that can match a quote, a backslash or non-ASCII costs escape-sized bytes per char.
    assert worst_case_bytes({"type": "string", "pattern": "^[^,]{1,5}$"}) == 2 + 6 * 5


def test_parse_structured_tolerates_control_characters_and_names_errors() -> None:
    text = json.dumps({"name": "A\x01B", "done": True}, ensure_ascii=False).replace("\\u0001", "\x01")
    assert "\x01" in text
    assert parse_structured(text, s.Beat).name == "A\x01B"
    with pytest.raises(InvalidOutputError) as info:
        parse_structured('{"title": "A"', s.Variant)
    assert info.value.text == '{"title": "A"'
    with pytest.raises(InvalidOutputError, match="logline"):
        parse_structured('{"title": "A"}', s.Variant)
