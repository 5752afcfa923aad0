"""Bounded generation schemas: the rule that makes constrained decoding terminate.

No constraint library closes open JSON at the token cutoff, and a weak model never closes a free
string by itself. So every schema a text engine generates must describe a *finite* language:
every string has `maxLength` (or an anchored ASCII `pattern` such as `^[A-Za-z ,.'-]{1,40}$`),
every array `maxItems`, every integer `minimum` and `maximum`, every object
`additionalProperties: false`, and there are no free-form numbers. Then the longest possible
compact JSON has a known byte length, and because every byte-level token is at least one byte,
that length + 1 (end-of-sequence) is a token budget that can never cut a valid answer short.

`check_bounded(schema)` raises `UnboundedSchemaError` naming the first unbounded field;
`worst_case_bytes(schema)` and `token_budget(schema)` size the budget; `parse_structured(text,
schema)` turns the generated text into the pydantic instance.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from aiuteur.engines.base import EngineError

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

M = TypeVar("M", bound=BaseModel)

#: Bytes one `maxLength`-bounded character can take in JSON: a `\uXXXX` escape (llama.cpp
#: allows them; llguidance allows only short escapes and raw UTF-8, at most 4 bytes).
BYTES_PER_FREE_CHAR = 6


class UnboundedSchemaError(EngineError):
    """A generation schema allows output of unbounded length, so generation may never end."""


class InvalidOutputError(EngineError):
    """The model's text did not parse or validate against the schema; `text` keeps it."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


def json_schema_of(schema: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a pydantic model class (or a schema dict, returned as is)."""
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


def schema_name(schema: type[BaseModel] | dict[str, Any]) -> str:
    """A short name for messages and for the OpenAI `json_schema.name` field."""
    raw = schema.get("title", "output") if isinstance(schema, dict) else schema.__name__
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(raw))[:64] or "output"


def check_bounded(schema: type[BaseModel] | dict[str, Any]) -> None:
    """Raise `UnboundedSchemaError` naming the first field whose output length is unbounded."""
    worst_case_bytes(schema)


#: How constrained JSON is spelled: one space after each comma and colon, no other whitespace.
#: Python's `json.dumps` style, the JSON small models have read most; forced to compact JSON
#: (`,` and `:` alone) the offline 1.5B model answered an empty asset list for every chunk of
#: a screenplay, and with these separators it listed the characters (docs/evals.md).
ITEM_SEPARATOR, KEY_SEPARATOR = ", ", ": "


def llguidance_json_options() -> JsonCompileOptions:
    """The llguidance JSON-schema options every constrained engine uses (see ITEM_SEPARATOR)."""
    return {"whitespace_flexible": False, "item_separator": ITEM_SEPARATOR, "key_separator": KEY_SEPARATOR}


def token_budget(schema: type[BaseModel] | dict[str, Any]) -> int:
    """max_new_tokens that always fits the longest valid output plus end-of-sequence."""
    return worst_case_bytes(schema) + 1


def worst_case_bytes(schema: type[BaseModel] | dict[str, Any]) -> int:
    """Byte length of the longest JSON the schema allows, spelled with ITEM_SEPARATOR and KEY_SEPARATOR.

    Raises:
        UnboundedSchemaError: some field allows unbounded output; the message names it.
    """
    root = json_schema_of(schema)
    defs = {**root.get("definitions", {}), **root.get("$defs", {})}
    return _Walker(defs, schema_name(schema)).size(root, "", ())


class _Walker:
    def __init__(self, defs: dict[str, Any], root_name: str) -> None:
        self.defs = defs
        self.root_name = root_name

    def fail(self, path: str, why: str, fix: str) -> UnboundedSchemaError:
        where = f"{self.root_name}.{path}" if path else self.root_name
        return UnboundedSchemaError(
            f"Schema field '{where}' {why}, so generation could run forever; {fix}. "
            "Every generation schema must be bounded (see aiuteur/engines/schema_bounds.py)."
        )

    def size(self, node: Any, path: str, seen: tuple[str, ...]) -> int:
        if node is True or node == {}:
            raise self.fail(path, "accepts any JSON value", "give it a type with bounds")
        if not isinstance(node, dict):
            raise self.fail(path, f"has an unsupported schema {node!r}", "use a pydantic field")
        if "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            if name in seen:
                raise self.fail(path, f"refers to itself through '{name}'", "remove the recursion")
            if name not in self.defs:
                raise self.fail(path, f"refers to an unknown definition '{name}'", "check the schema")
            return self.size(self.defs[name], path, (*seen, name))
        if "const" in node:
            return _literal_bytes(node["const"])
        if "enum" in node:
            return max(_literal_bytes(v) for v in node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                return max(self.size(n, path, seen) for n in node[key])
        if "allOf" in node:
            parts = node["allOf"]
            if len(parts) != 1:
                raise self.fail(path, "uses allOf with several parts", "use a single model")
            return self.size(parts[0], path, seen)
        kind = node.get("type")
        if isinstance(kind, list):
            return max(self.size({**node, "type": k}, path, seen) for k in kind)
        if kind == "object":
            return self.object_size(node, path, seen)
        if kind == "array":
            return self.array_size(node, path, seen)
        if kind == "string":
            return self.string_size(node, path)
        if kind == "integer":
            lo, hi = node.get("minimum"), node.get("maximum")
            if "exclusiveMinimum" in node:
                lo = node["exclusiveMinimum"] + 1
            if "exclusiveMaximum" in node:
                hi = node["exclusiveMaximum"] - 1
            if lo is None or hi is None:
                raise self.fail(
                    path, "is an integer without both minimum and maximum", "add Field(ge=..., le=...)"
                )
            return max(len(str(int(lo))), len(str(int(hi))))
        if kind == "number":
            raise self.fail(
                path,
                "is a free-form number (digits after the point are unbounded)",
                "use an int with ge/le (e.g. tenths of a second) or a Literal of allowed values",
            )
        if kind == "boolean":
            return 5
        if kind == "null":
            return 4
        raise self.fail(path, f"has no usable type ({kind!r})", "give it a bounded type")

    def object_size(self, node: dict[str, Any], path: str, seen: tuple[str, ...]) -> int:
        props: dict[str, Any] = node.get("properties", {})
        if node.get("additionalProperties", True) is not False:
            raise self.fail(
                path or "<root>",
                "allows extra keys (additionalProperties is not false)",
                'set model_config = ConfigDict(extra="forbid")',
            )
        if node.get("patternProperties"):
            raise self.fail(path, "has patternProperties", "use fixed properties")
        total = 2 + len(ITEM_SEPARATOR) * max(0, len(props) - 1)  # braces and commas; every key may be present
        for key, sub in props.items():
            total += _literal_bytes(key) + len(KEY_SEPARATOR) + self.size(sub, f"{path}.{key}" if path else key, seen)
        return total

    def array_size(self, node: dict[str, Any], path: str, seen: tuple[str, ...]) -> int:
        prefix: list[Any] = node.get("prefixItems", [])
        items = node.get("items", not prefix)
        max_items = node.get("maxItems")
        if max_items is None:
            if items is False and prefix:
                max_items = len(prefix)
            else:
                raise self.fail(path, "is a list without maxItems", "add Field(max_length=N)")
        sizes = [self.size(p, f"{path}[{i}]", seen) for i, p in enumerate(prefix[:max_items])]
        rest = max_items - len(sizes)
        if rest > 0:
            sizes += [self.size(items, f"{path}[]", seen)] * rest
        return 2 + sum(sizes) + len(ITEM_SEPARATOR) * max(0, len(sizes) - 1)

    def string_size(self, node: dict[str, Any], path: str) -> int:
        if node.get("format") or node.get("contentEncoding"):
            pass  # formats narrow the language further; the length bound below still applies
        bounds: list[int] = []
        if "maxLength" in node:
            bounds.append(2 + BYTES_PER_FREE_CHAR * int(node["maxLength"]))
        pattern = node.get("pattern")
        if pattern is not None:
            pat = _pattern_bytes(str(pattern))
            if pat is not None:
                bounds.append(2 + pat)
        if not bounds:
            raise self.fail(
                path,
                "is a string without maxLength or an anchored bounded pattern",
                "add Field(max_length=N) or a pattern like ^[A-Za-z0-9 ,.'!?-]{1,N}$",
            )
        return min(bounds)


def _literal_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _pattern_bytes(pattern: str) -> int | None:
    """Longest JSON-string body (bytes) an anchored regex can match, or None when unbounded."""
    if not (pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith(r"\$")):
        return None  # JSON Schema patterns match anywhere: unanchored means unbounded
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]

        parsed = sre_parse.parse(pattern)
    except Exception:
        return None
    _, max_chars = parsed.getwidth()
    if max_chars >= 1 << 16:  # sre reports MAXREPEAT-based widths for *, + and {n,}
        return None
    per_char = 1 if _ascii_safe(parsed) else BYTES_PER_FREE_CHAR
    return int(max_chars) * per_char


_SAFE_MIN, _SAFE_MAX, _UNSAFE = 0x20, 0x7E, {0x22, 0x5C}


def _ascii_safe(parsed: Any) -> bool:
    """True when every character the regex can match is printable ASCII other than `"` and `\\`."""
    from re import _constants as c  # type: ignore[attr-defined]

    def code_ok(code: int) -> bool:
        return _SAFE_MIN <= code <= _SAFE_MAX and code not in _UNSAFE

    for op, av in parsed:
        if op is c.LITERAL:
            if not code_ok(av):
                return False
        elif op is c.IN:
            for item_op, item_av in av:
                if item_op is c.LITERAL:
                    if not code_ok(item_av):
                        return False
                elif item_op is c.RANGE:
                    lo, hi = item_av
                    if not (code_ok(lo) and code_ok(hi) and not any(lo <= u <= hi for u in _UNSAFE)):
                        return False
                else:  # NEGATE, CATEGORY (\w, \s, \d may match non-ASCII)
                    return False
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            if not _ascii_safe(av[2]):
                return False
        elif op is c.SUBPATTERN:
            if not _ascii_safe(av[-1]):
                return False
        elif op is c.BRANCH:
            if not all(_ascii_safe(branch) for branch in av[1]):
                return False
        elif op is c.AT:
            continue
        else:  # ANY (.), NOT_LITERAL, CATEGORY, GROUPREF…
            return False
    return True


def parse_structured(text: str, schema: type[M]) -> M:
    """Parse generated JSON and validate it as `schema`.

    `strict=False` lets raw control characters inside strings through (llama.cpp's grammar allows
    them; they are harmless in prose). Raises `InvalidOutputError` (an `EngineError`) carrying
    the text when it does not parse or validate.
    """
    try:
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as e:
        raise InvalidOutputError(
            f"The model's output is not valid JSON for {schema.__name__} ({e.msg} at character {e.pos}).",
            text,
        ) from e
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise InvalidOutputError(
            f"The model's output does not fit {schema.__name__}: {_first_error(e)}", text
        ) from e


def _first_error(e: ValidationError) -> str:
    errs = e.errors()
    if not errs:
        return str(e)
    loc = ".".join(str(p) for p in errs[0].get("loc", ()))
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{loc or 'value'}: {errs[0].get('msg', '')}{more}"
