"""The writing-voice and custom-prompts panel: capsules per user, prompt overrides with reset."""

from __future__ import annotations

import pytest

from aiuteur.domain import ConflictError, InputError, Stage, StoryInput
from aiuteur.pipeline import capsules
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from aiuteur.ui import writing_style as ws


def test_a_project_takes_a_capsule_from_its_owners_library_only(store: Store) -> None:
    alice, bob = Runner(store, owner="user:alice"), Runner(store, owner="user:bob")
    pid = alice.create_project("Noir").id
    alice.save(pid, Stage.INPUT, StoryInput())
    mine = capsules.create_capsule("Hard-boiled", "Rain. Neon.", "You lied.", alice.capsules)
    theirs = capsules.create_capsule("Bob's", "x", "y", bob.capsules)
    assert [c for _, c in ws.capsule_choices(alice)] == [ws.NO_CAPSULE, mine.id]
    assert "Hard-boiled" in ws.use_capsule(alice, pid, mine.id)
    assert ws.project_capsule(alice, pid) == mine.id
    with pytest.raises(InputError, match="not in your library"):
        ws.use_capsule(alice, pid, theirs.id, mine.id)
    with pytest.raises(ConflictError, match="writing voice was changed by someone else"):
        ws.use_capsule(alice, pid, ws.NO_CAPSULE)  # from a panel that still showed no capsule
    assert ws.project_capsule(alice, pid) == mine.id
    ws.use_capsule(alice, pid, ws.NO_CAPSULE, mine.id)
    assert ws.project_capsule(alice, pid) == ws.NO_CAPSULE
    assert [c for _, c in ws.capsule_choices(bob)] == [ws.NO_CAPSULE, theirs.id]


def test_prompt_override_and_reset(runner: Runner) -> None:
    pid = runner.create_project("P").id
    roles = [r for _, r in ws.template_choices(runner, pid)]
    assert "treatment/system" in roles
    default, vars_line = ws.template_view(runner, pid, "treatment/system")
    assert "default" in vars_line and "$story_rules" in vars_line
    runner.set_prompt_override(pid, "treatment/system", "Be brief.\n$story_rules")
    text, vars_line = ws.template_view(runner, pid, "treatment/system")
    assert text == "Be brief.\n$story_rules" and "overridden" in vars_line
    assert any("overridden" in label for label, _ in ws.template_choices(runner, pid))
    runner.set_prompt_override(pid, "treatment/system", None)
    assert ws.template_view(runner, pid, "treatment/system")[0] == default
