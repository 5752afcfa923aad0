"""Custom system prompts: see, override and reset a project's prompt templates.

Every template is a file (`prompts/<stage>/<role>.v<N>.md`); a project may override any of them
(owner notes 1f). An override may use only the `$variables` the default uses, because those are
all the stage supplies; the runner checks that. Takes record `<id>.override` and the hash of
the text, so what made each take is never ambiguous.

The runner keeps the overrides (`Runner.set_prompt_override(pid, role, text, seen=...)`, None
resets); this module only reads them from a project, so it does not depend on the runner.

Example:
    runner.set_prompt_override(pid, "script/scene_system", "Write like Elmore Leonard.\n$style_capsule\n$story_rules")
"""

from __future__ import annotations

from dataclasses import dataclass

from aiuteur.domain import Project
from aiuteur.pipeline.prompts import all_templates, load_template


@dataclass(frozen=True)
class PromptInfo:
    """One template as the custom-prompts screen lists it."""

    stage_role: str  # "treatment/system"
    default_id: str  # "treatment/system.v1"
    overridden: bool
    variables: tuple[str, ...]  # what an override may use


def list_prompts(project: Project) -> list[PromptInfo]:
    """Every template, whether this project overrides it, and the variables it may use."""
    overrides = project.prompt_overrides
    out = []
    for role in all_templates():
        t = load_template(role)
        out.append(PromptInfo(role, t.id, role in overrides, tuple(sorted(t.variables))))
    return out


def view(project: Project, stage_role: str) -> str:
    """The text this project uses for a template: its override, else the default."""
    return load_template(stage_role, project.prompt_overrides).text


def default_text(stage_role: str) -> str:
    """The default text of a template (the newest version on disk)."""
    return load_template(stage_role).text
