"""Prompt templates: files named `prompts/<stage>/<role>.v<N>.md`, variables as `$name`.

The newest version of a template is used unless the project overrides it, or unless
`AIUTEUR_PROMPT_VERSIONS` pins one (the eval harness compares versions this way):
`"script=1,treatment/system=2"` uses, for every role of `script`, the newest version at or below
1, and for `treatment/system` version 2 (a role pin wins over its stage's). A missing variable is
an error; a take records the template id and a hash of the exact text used (DESIGN.md idea 7).
"""

from __future__ import annotations

import hashlib
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path

from aiuteur.domain import InputError
from aiuteur.settings import PROMPTS_DIR

_NAME_RE = re.compile(r"^(?P<role>[a-z0-9_]+)\.v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class Template:
    id: str  # "treatment/system.v1" (".override" appended when a project overrides it)
    text: str

    @property
    def hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def variables(self) -> set[str]:
        names: set[str] = set()
        for m in string.Template.pattern.finditer(self.text):
            name = m.group("named") or m.group("braced")
            if name:
                names.add(name)
        return names

    def render(self, **values: object) -> str:
        """Substitute every `$name`; a missing value is an error naming it."""
        missing = self.variables - values.keys()
        if missing:
            raise InputError(f"Template {self.id} needs values for: {', '.join(sorted(missing))}.")
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})


def template_versions(stage_role: str, root: Path = PROMPTS_DIR) -> dict[int, Path]:
    """All versions of `<stage>/<role>` on disk, by version number."""
    stage, _, role = stage_role.partition("/")
    folder = root / stage
    out: dict[int, Path] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            m = _NAME_RE.match(p.name)
            if m and m.group("role") == role:
                out[int(m.group("version"))] = p
    return out


def all_templates(root: Path = PROMPTS_DIR) -> list[str]:
    """Every `<stage>/<role>` that has at least one version."""
    names: set[str] = set()
    for p in root.glob("*/*.md"):
        m = _NAME_RE.match(p.name)
        if m:
            names.add(f"{p.parent.name}/{m.group('role')}")
    return sorted(names)


PROMPT_VERSIONS_ENV = "AIUTEUR_PROMPT_VERSIONS"


def parse_version_pins(text: str) -> dict[str, int]:
    """`"script=1, treatment/system=v2"` -> {"script": 1, "treatment/system": 2}.

    Raises:
        InputError: a pin is not `stage=N` or `stage/role=N` with N a whole number from 1.
    """
    pins: dict[str, int] = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip().lower().removeprefix("v")
        if not sep or not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)?", key) or not value.isdigit() or int(value) < 1:
            raise InputError(f"Prompt version pin {part.strip()!r} is not like 'script=2' or 'script/plan_system=v1'.")
        pins[key] = int(value)
    return pins


def pinned_version(stage_role: str, versions: dict[int, Path]) -> int:
    """The version `AIUTEUR_PROMPT_VERSIONS` asks for (the newest at or below a stage pin), else the newest."""
    pins = parse_version_pins(os.environ.get(PROMPT_VERSIONS_ENV, ""))
    pin = pins.get(stage_role, pins.get(stage_role.partition("/")[0]))
    if pin is None:
        return max(versions)
    if stage_role in pins and pin not in versions:
        have = ", ".join(f"v{v}" for v in sorted(versions))
        raise InputError(f"{PROMPT_VERSIONS_ENV} pins {stage_role} to v{pin}, which does not exist (there is {have}).")
    at_or_below = [v for v in versions if v <= pin]
    return max(at_or_below) if at_or_below else min(versions)


def load_template(stage_role: str, overrides: dict[str, str] | None = None, root: Path = PROMPTS_DIR) -> Template:
    """The template to use: the project's override if any, else the pinned or newest version on disk."""
    versions = template_versions(stage_role, root)
    if not versions:
        raise InputError(f"No prompt template {stage_role!r} in {root}.")
    latest = pinned_version(stage_role, versions)
    tid = f"{stage_role}.v{latest}"
    if overrides and stage_role in overrides:
        return Template(id=f"{tid}.override", text=overrides[stage_role])
    return Template(id=tid, text=versions[latest].read_text(encoding="utf-8"))
