"""Prompt files of stages 2-4: every variable a template uses is supplied by the code, and every
variable the code supplies is used (no missing, no unused); overrides are checked the same way."""

from __future__ import annotations

import pytest

from aiuteur.domain import InputError
from aiuteur.pipeline import beats, custom_prompts, script, treatment
from aiuteur.pipeline.prompts import all_templates, load_template
from aiuteur.pipeline.runner import Runner

DECLARED = {**treatment.VARIABLES, **beats.VARIABLES, **script.VARIABLES}
STAGES = ("treatment", "beats", "script")


def test_every_template_file_uses_exactly_the_variables_the_code_supplies() -> None:
    on_disk = [t for t in all_templates() if t.split("/")[0] in STAGES]
    assert sorted(on_disk) == sorted(DECLARED), "a template file without code, or code without a template file"
    for role in on_disk:
        newest = load_template(role)  # the version the code renders
        assert newest.variables == DECLARED[role], (
            f"{newest.id} uses {sorted(newest.variables)}, the code supplies {sorted(DECLARED[role])}")


def test_every_system_prompt_carries_the_story_rules() -> None:
    for role, names in DECLARED.items():
        if role.endswith("system"):
            assert "story_rules" in names, role


def test_overrides_may_use_only_the_defaults_variables(runner: Runner) -> None:
    pid = runner.create_project("Lamp").id
    with pytest.raises(InputError, match=r"\$secret"):
        runner.set_prompt_override(pid, "beats/system", "Rules: $story_rules $secret")
    with pytest.raises(InputError, match="stray"):
        runner.set_prompt_override(pid, "beats/system", "Costs $5 $story_rules")
    with pytest.raises(InputError):
        runner.set_prompt_override(pid, "nope/system", "x")
    runner.set_prompt_override(pid, "beats/system", "Short. $story_rules")
    assert custom_prompts.view(runner.view(pid).project, "beats/system") == "Short. $story_rules"
    listed = {p.stage_role: p for p in custom_prompts.list_prompts(runner.view(pid).project)}
    assert listed["beats/system"].overridden and listed["beats/system"].variables == ("story_rules",)
    assert not listed["treatment/system"].overridden
    runner.set_prompt_override(pid, "beats/system", None)
    assert custom_prompts.view(runner.view(pid).project, "beats/system") == custom_prompts.default_text("beats/system")
