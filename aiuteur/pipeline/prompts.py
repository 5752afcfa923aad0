"""Prompt templates: files named `prompts/<stage>/<role>.v<N>.md`, variables as `$name`.

The newest version of a template is used unless the project overrides it. A missing variable is
an error; a take records the template id and a hash of the exact text used (DESIGN.md idea 7).
"""

from __future__ import annotations

import hashlib
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


def load_template(stage_role: str, overrides: dict[str, str] | None = None, root: Path = PROMPTS_DIR) -> Template:
    """The template to use: the project's override if any, else the newest version on disk."""
    versions = template_versions(stage_role, root)
    if not versions:
        raise InputError(f"No prompt template {stage_role!r} in {root}.")
    latest = max(versions)
    tid = f"{stage_role}.v{latest}"
    if overrides and stage_role in overrides:
        return Template(id=f"{tid}.override", text=overrides[stage_role])
    return Template(id=tid, text=versions[latest].read_text(encoding="utf-8"))
