"""Shared bits of the domain: the frozen base model, ids and canonical hashing."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every domain model: immutable and strict about unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def new_id(prefix: str) -> str:
    """A fresh opaque id such as ``pr_3f9a0c1d2e4b``; never derived from user text."""
    return f"{prefix}_{secrets.token_hex(6)}"


def now_iso() -> str:
    """The current UTC time as an ISO-8601 string."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal data always hashes equally."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    """``sha256:<hex>`` over the canonical JSON of `value` (tagged with its algorithm)."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
