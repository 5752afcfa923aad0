"""The corpus is what the issue asks for, prompt versions can be pinned, and token usage adds up."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiuteur.domain import InputError
from aiuteur.engines import usage
from aiuteur.evals import metrics
from aiuteur.evals.corpus import load_corpus, load_story
from aiuteur.pipeline.prompts import PROMPT_VERSIONS_ENV, load_template, parse_version_pins


def test_corpus_has_eight_labelled_stories_of_every_kind() -> None:
    stories = load_corpus()
    assert len(stories) >= 8
    assert {"comedy", "drama", "fantasy", "thriller"} <= {s.labels.genre for s in stories}
    assert sum(1 for s in stories if s.labels.look_changes) >= 4
    for s in stories:
        assert 200 <= s.words <= 500, s.slug
        assert 2 <= len(s.labels.characters) <= 5, s.slug
        assert len(s.labels.places) >= 2, s.slug
        assert '"' in s.text or "“" in s.text, f"{s.slug} has no dialogue"
        for c in s.labels.characters:  # a label names what the story names
            assert metrics.mentions(s.text, [c.name, *c.aliases]), (s.slug, c.name)
        for p in s.labels.places:
            assert metrics.mentions(s.text, p.names), (s.slug, p.name)


def test_corpus_names_are_not_those_of_the_prompts_or_fixtures() -> None:
    from aiuteur.evals.harness import example_vocabulary

    examples = example_vocabulary()
    for s in load_corpus():
        for c in s.labels.characters:
            assert not set(metrics.words(c.name)) & examples, (s.slug, c.name)


def test_a_story_without_labels_or_with_a_stranger_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nText.", encoding="utf-8")
    with pytest.raises(InputError, match="no labels"):
        load_story(tmp_path / "a.md")
    (tmp_path / "a.json").write_text(
        '{"title": "A", "genre": "drama", "characters": [{"name": "Ann", "speaks": true}], "places": [], '
        '"look_changes": [{"character": "Bob", "change": "hat", "keywords": ["hat"], "place": ["x"]}]}',
        encoding="utf-8")
    with pytest.raises(InputError, match="Bob"):
        load_story(tmp_path / "a.md")
    with pytest.raises(InputError, match="No corpus story"):
        load_corpus(only=["no-such-story"])


def test_prompt_versions_pin_a_stage_or_one_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "script"
    folder.mkdir()
    for name, text in [("plan.v1.md", "one"), ("plan.v2.md", "two"), ("scene.v1.md", "s1")]:
        (folder / name).write_text(text, encoding="utf-8")
    assert load_template("script/plan", root=tmp_path).id == "script/plan.v2"  # newest by default
    monkeypatch.setenv(PROMPT_VERSIONS_ENV, "script=v1")
    assert load_template("script/plan", root=tmp_path).text == "one"
    monkeypatch.setenv(PROMPT_VERSIONS_ENV, "script=2")
    assert load_template("script/scene", root=tmp_path).id == "script/scene.v1"  # newest at or below 2
    monkeypatch.setenv(PROMPT_VERSIONS_ENV, "script=1, script/plan=v2")
    assert load_template("script/plan", root=tmp_path).id == "script/plan.v2"  # a role pin wins
    monkeypatch.setenv(PROMPT_VERSIONS_ENV, "script/scene=3")
    with pytest.raises(InputError, match="does not exist"):
        load_template("script/scene", root=tmp_path)
    with pytest.raises(InputError, match="not like"):
        parse_version_pins("script")
    assert parse_version_pins("treatment/system=v2;beats=1") == {"treatment/system": 2, "beats": 1}


def test_usage_counts_what_is_recorded_inside_each_open_measure() -> None:
    usage.record(5, 5)  # nobody measuring: dropped
    with usage.measure() as outer:
        usage.record(100, 20)
        with usage.measure() as inner:
            usage.record(10, 2)
    assert (outer.prompt, outer.completion, outer.calls) == (110, 22, 2)
    assert (inner.prompt, inner.completion, inner.calls) == (10, 2, 1)
