"""Custom system prompts: see, override and reset a project's prompt templates.

Every template is a file (`prompts/<stage>/<role>.v<N>.md`); a project may override any of them
(owner notes 1f). An override may use only the `$variables` the default uses, because those are
all the stage supplies; the runner checks that. Takes record `<id>.override` and the hash of
the text, so what made each take is never ambiguous.

Example:
    override(runner, pid, "script/scene_system", "Write like Elmore Leonard.\n$style_capsule\n$story_rules")
"""

from __future__ import annotations

from dataclasses import dataclass

from aiuteur.pipeline.prompts import all_templates, load_template
from aiuteur.pipeline.runner import Runner


@dataclass(frozen=True)
class PromptInfo:
    """One template as the custom-prompts screen lists it."""

    stage_role: str  # "treatment/system"
    default_id: str  # "treatment/system.v1"
    overridden: bool
    variables: tuple[str, ...]  # what an override may use


def list_prompts(runner: Runner, project_id: str) -> list[PromptInfo]:
    """Every template, whether this project overrides it, and the variables it may use."""
    overrides = runner.view(project_id).project.prompt_overrides
    out = []
    for role in all_templates():
        t = load_template(role)
        out.append(PromptInfo(role, t.id, role in overrides, tuple(sorted(t.variables))))
    return out


def view(runner: Runner, project_id: str, stage_role: str) -> str:
    """The text this project uses for a template: its override, else the default."""
    return load_template(stage_role, runner.view(project_id).project.prompt_overrides).text


def default_text(stage_role: str) -> str:
    """The default text of a template (the newest version on disk)."""
    return load_template(stage_role).text


def override(runner: Runner, project_id: str, stage_role: str, text: str, seen: str | None = None) -> None:
    """Use `text` for this template in this project (InputError when it uses unknown variables).

    `seen` is the text the user saw for it: changed by someone since, nothing is saved (ConflictError)."""
    runner.set_prompt_override(project_id, stage_role, text, seen=seen)


def reset(runner: Runner, project_id: str, stage_role: str, seen: str | None = None) -> None:
    """Go back to the default template (`seen` as for `override`)."""
    runner.set_prompt_override(project_id, stage_role, None, seen=seen)
