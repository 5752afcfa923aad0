"""Every eval metric on hand-made artifacts: each must pass a good artifact and catch a bad one."""

from __future__ import annotations

from typing import Any

import pytest

from aiuteur.evals import metrics
from aiuteur.evals.corpus import StoryLabels

STORY = (
    "Nell Draper found the key under the mat. She went into the bakery at dawn. "
    '"Who left this here?" she asked Omar Quist, who was kneading dough by the oven. '
    "Later, on the pier, Nell wore her father's red coat against the wind."
)

LABELS = StoryLabels.model_validate({
    "title": "The Key", "genre": "drama",
    "characters": [
        {"name": "Nell Draper", "aliases": ["Nell"], "speaks": True},
        {"name": "Omar Quist", "aliases": ["Omar"], "speaks": False},
    ],
    "places": [
        {"name": "the bakery", "aliases": ["bakery", "oven"]},
        {"name": "the pier", "aliases": ["pier", "jetty"]},
        {"name": "the harbour office", "aliases": ["harbour office"]},
    ],
    "look_changes": [
        {"character": "Nell Draper", "change": "wears her father's red coat", "keywords": ["red coat", "coat"],
         "place": ["pier", "jetty"]},
    ],
})


def _el(kind: str, text: str, character: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "text": text, "character": character}


def script(*scenes: dict[str, Any]) -> dict[str, Any]:
    return {"scenes": list(scenes)}


BAKERY = {"id": "s1", "number": "1", "heading": "INT. BAKERY - DAWN", "location": "BAKERY", "elements": [
    _el("action", "Nell, a pale girl in a grey apron, steps into the warm bakery as lamplight glows on the flour."),
    _el("dialogue", "Who left this here?", "NELL"),
    _el("action", "Omar kneads dough."),
    _el("dialogue", "Not me.", "OMAR"),
]}
PIER = {"id": "s2", "number": "2", "heading": "EXT. PIER - DAY", "location": "PIER", "elements": [
    _el("action", "Wind on the pier."),
]}

ASSETS = {"registry": {"assets": [
    {"id": "a1", "name": "NELL DRAPER", "category": "character", "aliases": ["Nell"], "scenes": ["s1", "s2"],
     "state_changes": [{"scene_id": "s2", "description": "now in her father's red coat"}]},
    {"id": "a2", "name": "Omar", "category": "character", "aliases": [], "scenes": ["s1"]},
    {"id": "a3", "name": "Bakery", "category": "location", "scenes": ["s1"]},
    {"id": "a4", "name": "Key", "category": "prop", "scenes": ["s1"]},
]}}


def test_names_match_by_whole_words_in_either_direction() -> None:
    assert metrics.names_match(["Nell Draper"], ["NELL"])
    assert metrics.names_match(["Nell"], ["Nell Draper"])
    assert not metrics.names_match(["Nell"], ["Nelly"])
    assert not metrics.names_match(["Omar Quist"], ["Quistopher"])


def test_characters_counts_extracted_and_names_the_missing() -> None:
    got = metrics.characters(LABELS, ASSETS)
    assert (got["extracted"], got["labelled"], got["missing"]) == (2, 2, [])
    only_props = {"registry": {"assets": [a for a in ASSETS["registry"]["assets"] if a["id"] != "a2"]}}
    got = metrics.characters(LABELS, only_props)
    assert (got["extracted"], got["missing"]) == (1, ["Omar Quist"])
    removed = {"registry": {"assets": [{**a, "removed": True} for a in ASSETS["registry"]["assets"]]}}
    assert metrics.characters(LABELS, removed)["extracted"] == 0


def test_speakers_are_labelled_speakers_with_a_cue_in_the_script() -> None:
    got = metrics.speakers(LABELS, script(BAKERY))
    assert (got["speaking"], got["labelled"], got["dialogue_lines"]) == (1, 1, 2)
    silent = {**BAKERY, "elements": [e for e in BAKERY["elements"] if e["kind"] == "action"]}
    got = metrics.speakers(LABELS, script(silent))
    assert (got["speaking"], got["missing"]) == (0, ["Nell Draper"])


def test_dialogue_altered_catches_missing_doubled_reordered_and_rewritten_lines() -> None:
    good = {"s1": {"shots": [{"number": "1A", "dialogue": [0]}, {"number": "1B", "dialogue": [1]}]}}
    assert metrics.dialogue_altered(script(BAKERY), good)["altered"] == 0
    missing = {"s1": {"shots": [{"number": "1A", "dialogue": [0]}]}}
    assert metrics.dialogue_altered(script(BAKERY), missing)["altered"] == 1
    doubled = {"s1": {"shots": [{"number": "1A", "dialogue": [0, 1]}, {"number": "1B", "dialogue": [1]}]}}
    assert metrics.dialogue_altered(script(BAKERY), doubled)["altered"] == 1
    reordered = {"s1": {"shots": [{"number": "1A", "dialogue": [1]}, {"number": "1B", "dialogue": [0]}]}}
    assert metrics.dialogue_altered(script(BAKERY), reordered)["altered"] == 1
    past_end = {"s1": {"shots": [{"number": "1A", "dialogue": [0, 1, 5]}]}}
    assert metrics.dialogue_altered(script(BAKERY), past_end)["altered"] == 1
    rewritten = {"s1": {"shots": [{"number": "1A", "dialogue": [0, 1], "lines": ["NELL: Who put this here?"]}]}}
    assert metrics.dialogue_altered(script(BAKERY), rewritten)["altered"] == 1
    assert metrics.dialogue_altered(script(BAKERY), {})["checked"] == 0  # no shot list yet: nothing measured


def test_a_line_split_over_shots_counts_once_when_its_parts_are_the_line() -> None:
    long = {**BAKERY, "elements": [_el("dialogue", "Who left this here, and why is it still warm?", "NELL")]}
    parts = [{"dialogue": 0, "part": 0, "text": "Who left this here,"},
             {"dialogue": 0, "part": 1, "text": "and why is it still warm?"}]
    split = {"s1": {"shots": [{"number": "1A", "dialogue": [0]}, {"number": "1B", "dialogue": [0]}], "lines": parts}}
    assert metrics.dialogue_altered(script(long), split)["altered"] == 0
    three = [parts[0], {**parts[1], "text": "and why is it"}, {"dialogue": 0, "part": 2, "text": "still warm?"}]
    two_in_one = {"s1": {"shots": split["s1"]["shots"], "lines": three}}  # shot 1B speaks two parts
    assert metrics.dialogue_altered(script(long), two_in_one)["altered"] == 0
    wrong = [parts[0], {**parts[1], "text": "and why is it warm?"}]
    reworded = {"s1": {"shots": split["s1"]["shots"], "lines": wrong}}
    assert metrics.dialogue_altered(script(long), reworded)["altered"] == 1
    unsplit = {"s1": {"shots": split["s1"]["shots"]}}  # two shots carry it, nothing says it was split
    assert metrics.dialogue_altered(script(long), unsplit)["altered"] == 1
    apart = {"s1": {"shots": [{"number": "1A", "dialogue": [0]}, {"number": "1B", "dialogue": []},
                              {"number": "1C", "dialogue": [0]}], "lines": parts}}
    assert metrics.dialogue_altered(script(long), apart)["altered"] == 1  # said twice, not run on


def test_visual_verbosity_counts_appearance_wardrobe_place_and_light() -> None:
    got = metrics.visual_verbosity(script(BAKERY))
    # line 1 names all four; line 2 ("Omar kneads dough.") none
    assert got["action_lines"] == 2
    assert got["score"] == 2.0
    assert got["appearance_share"] == got["wardrobe_share"] == got["place_share"] == got["light_share"] == 0.5
    bare = script({**BAKERY, "elements": [_el("action", "He goes.")]})
    assert metrics.visual_verbosity(bare)["score"] == 0.0


def test_loops_find_repeated_ngrams_and_repeated_lines() -> None:
    loop = "the bare nail is peeling off as well and the bare nail is peeling off as well and the bare nail is"
    got = metrics.loops([loop, "A quiet morning in the bakery begins."])
    assert got["looping"] == 1 and "the bare nail is" in got["evidence"]
    assert metrics.loops(["Nell walks in. Omar looks up from the dough."])["looping"] == 0
    same = "Marisol stares at the cracked mirror, silent."
    assert metrics.loops([same, same, "Something else happens here today."])["repeated_lines"] == 1
    # A short line said over and over is a loop too, across the lines of a scene (the real model
    # once wrote twenty action lines that each said "Ines,").
    assert metrics.loops(["Ines,"] * 20)["repeated_lines"] == 1
    assert metrics.loops(["Ines,", "Ines,", "He waits."])["repeated_lines"] == 0
    # ... and a loop that runs across lines shows in the scene's lines joined, counted once
    lines = ["Dov waits for the bus and", "waits for the bus and waits", "for the bus."]
    assert metrics.loops(lines)["looping"] == 0
    across = metrics.loops(lines, wholes=[" ".join(lines)])
    assert across["looping"] == 1 and across["repeated_lines"] == 0


def test_dialogue_said_again_in_a_scene_is_a_loop_whoever_says_it() -> None:
    """Two voices taking turns with the same two lines (the letters run at 9607753) is a loop; a
    short answer twice, or a line said again in another scene, is not."""
    turns = [_el("dialogue", "Tell your daughter.", "PELL"), _el("dialogue", "That her father keeps a filthy kitchen.", "TAMSIN")]
    looping = {"id": "s1", "elements": [*turns * 4, _el("dialogue", "Yes.", "PELL"), _el("dialogue", "Yes.", "TAMSIN")]}
    got = metrics.dialogue_loops([looping])
    assert got["lines"] == 10 and got["repeated_lines"] == 2
    assert any("tell your daughter" in e for e in got["evidence"])
    once = {"id": "s2", "elements": turns}
    assert metrics.dialogue_loops([once])["repeated_lines"] == 0
    # the same lines in two scenes: a loop across scenes, unless the story says them twice as well
    across = metrics.dialogue_loops([once, {"id": "s3", "elements": turns}])
    assert across["repeated_lines"] == 2 and "(in 2 scenes)" in across["evidence"][0]
    refrain = "Tell your daughter, he said. That her father keeps a filthy kitchen."
    assert metrics.dialogue_loops([once, {"id": "s3", "elements": turns}], refrain + " " + refrain)["repeated_lines"] == 0
    # a short line of the story's own, said in more scenes than the story says it (tuba at 7aa231f)
    short = [_el("dialogue", "Thursday rehearsals.", "BRANDT"), _el("dialogue", "Yes.", "DOV")]
    scenes = [{"id": f"s{k}", "elements": short} for k in range(3)]
    got = metrics.dialogue_loops(scenes, '"Thursday rehearsals," said Brandt. "Yes," said Dov. "Yes," said Ines. Brandt said "Yes" too.')
    assert got["repeated_lines"] == 1 and got["evidence"] == ["thursday rehearsals (in 3 scenes)"]


def test_copied_sentences_finds_story_sentences_word_for_word() -> None:
    got = metrics.copied_sentences(STORY, ["Nell Draper found the key under the mat. It was cold."])
    assert got["copied"] == 1 and got["sentences"] == 1  # "It was cold." is under six words
    got = metrics.copied_sentences(STORY, ["Nell finds a key beneath the doormat at first light."])
    assert got["copied"] == 0


def test_look_change_is_caught_only_in_the_right_scene_state() -> None:
    sc = script(BAKERY, PIER)
    right = {"s2": {"states": [{"asset_id": "a1", "description": "Nell in her father's red coat, hair wind-blown"}]}}
    got = metrics.look_changes(LABELS, sc, ASSETS, right)
    assert (got["caught"], got["in_registry"]) == (1, 1)
    wrong_scene = {"s1": {"states": [{"asset_id": "a1", "description": "Nell in a red coat"}]},
                   "s2": {"states": [{"asset_id": "a1", "description": "Nell, windswept"}]}}
    got = metrics.look_changes(LABELS, sc, ASSETS, wrong_scene)
    assert got["caught"] == 0 and "does not describe" in got["changes"][0]["why"]
    in_changes = {"s2": {"states": [{"asset_id": "a1", "description": "Nell", "changes": [
        {"scene_id": "s2", "shot_id": "2A", "description": "pulls on the red coat"}]}]}}
    assert metrics.look_changes(LABELS, sc, ASSETS, in_changes)["caught"] == 1
    got = metrics.look_changes(LABELS, script(BAKERY), ASSETS, right)
    assert got["caught"] == 0 and got["changes"][0]["why"] == "no scene is set where the new look shows"
    got = metrics.look_changes(LABELS, sc, {"registry": {"assets": []}}, right)
    assert got["changes"][0]["why"] == "the character was not extracted"


def test_places_as_scene_named_or_missing() -> None:
    got = metrics.places(LABELS, script(BAKERY, PIER))
    assert (got["as_scene"], got["named"], got["missing"]) == (2, 0, ["the harbour office"])
    named = {**BAKERY, "elements": [_el("action", "Through the window, the harbour office is dark.")]}
    got = metrics.places(LABELS, script(named))
    assert (got["as_scene"], got["named"], got["covered"]) == (1, 1, 2)  # bakery by heading, office by name


@pytest.mark.parametrize(("name", "why"), [
    ("Dusk", "a time of day"), ("EARLY MORNING", "a time of day"), ("INT. BAKERY - DAY", "a scene heading"),
    ("EXT. PIER", "a scene heading"), ("MARISOL'S BEDROOM - DUSK:", "a scene heading"), ("Nell - later", "a scene heading"),
    ("Tea - a cup", ""), ("CUT TO:", "a transition"), ("", "empty"),
    ("Bakery", ""), ("Red coat", ""), ("Nightstand", ""), ("Day pass", ""),
])
def test_not_a_thing(name: str, why: str) -> None:
    assert metrics.not_a_thing(name) == why


def test_non_things_counts_assets_and_shot_actions() -> None:
    bad = {"registry": {"assets": [*ASSETS["registry"]["assets"], {"id": "x", "name": "Dusk", "category": "location"}]}}
    shots = {"s1": {"shots": [{"number": "1A", "action": "INT."}, {"number": "1B", "action": "BAKERY - DAWN:"},
                              {"number": "1C", "action": "Nell steps in."}]}}
    got = metrics.non_things(bad, shots)
    assert (got["assets"], got["shot_actions"]) == (1, 2)
    assert metrics.non_things(ASSETS, {"s1": {"shots": [{"number": "1A", "action": "Nell steps in."}]}})["assets"] == 0


def test_shot_variety_and_shots_that_list_every_asset() -> None:
    same = {"s1": {"shots": [{"size": "medium", "angle": "low angle", "assets": ["a1", "a2", "a3", "a4"]}] * 4}}
    got = metrics.shot_variety(same, ASSETS)
    assert (got["sizes"], got["angles"], got["top_size_share"], got["every_asset_share"]) == (1, 1, 1.0, 1.0)
    varied = {"s1": {"shots": [{"size": "wide", "angle": "eye level", "assets": ["a3"]},
                               {"size": "close-up", "angle": "low angle", "assets": ["a1"]},
                               {"size": "medium", "angle": "eye level", "assets": ["a1", "a2"]}]}}
    got = metrics.shot_variety(varied, ASSETS)
    assert (got["sizes"], got["angles"], got["every_asset_share"]) == (3, 2, 0.0)


def test_treatments_count_similarity_and_copying() -> None:
    a = {"title": "A", "logline": "A girl finds a key.", "prose": "Nell finds a key and opens the old bakery at dawn."}
    b = {"title": "B", "logline": "A baker keeps a secret.", "prose": "Omar hides the truth about the ovens from everyone."}
    c = {"title": "C", "logline": "The sea calls.", "prose": "Nell Draper found the key under the mat. The pier waits."}
    got = metrics.treatments(STORY, {"variants": [a, b, c]})
    assert got["count"] == 3 and got["max_similarity"] < 0.2 and not got["same_logline"]
    assert got["copied_per_variant"] == [0, 0, 1]
    got = metrics.treatments(STORY, {"variants": [a, a, b]})
    assert got["max_similarity"] == 1.0 and got["same_logline"]


def test_beat_spread_sees_beats_citing_one_passage() -> None:
    prose = "First part of the tale here. " * 3 + "Middle part of the tale here. " * 3 + "Last part of the tale here. " * 3
    treatment = {"variants": [{"prose": prose}], "chosen": 0}
    spread = {"beats": [{"source_passage": "First part of the tale"}, {"source_passage": "Middle part of the tale"},
                        {"source_passage": "Last part of the tale"}]}
    assert metrics.beat_spread(treatment, spread) == {"beats": 3, "distinct_passages": 3, "thirds_covered": 3}
    same = {"beats": [{"source_passage": "First part of the tale"}] * 3}
    assert metrics.beat_spread(treatment, same) == {"beats": 3, "distinct_passages": 1, "thirds_covered": 1}


def test_prompt_leaks_are_example_words_in_names_that_the_story_never_uses() -> None:
    examples = {"harbour", "martha", "bakery"}
    leaky = script(BAKERY, {"id": "s3", "number": "3", "heading": "EXT. HARBOUR WALL - DUSK", "location": "HARBOUR WALL",
                            "elements": [_el("dialogue", "Hello.", "MARTHA")]})
    got = metrics.prompt_leaks(STORY, leaky, ASSETS, examples)
    assert got["leaks"] == 2  # "bakery" is in the story, so it is no leak
    assert metrics.prompt_leaks(STORY, script(BAKERY), ASSETS, examples)["leaks"] == 0


def test_metrics_survive_missing_artifacts() -> None:
    assert metrics.characters(LABELS, None)["extracted"] == 0
    assert metrics.speakers(LABELS, None)["speaking"] == 0
    assert metrics.places(LABELS, None)["covered"] == 0
    assert metrics.look_changes(LABELS, None, None, {})["caught"] == 0
    assert metrics.treatments(STORY, None)["count"] == 0
    assert metrics.shot_variety({}, None)["shots"] == 0


def test_frame_prompts_whose_action_falls_past_clips_window_are_counted() -> None:
    shots = {"s1": {"shots": [{"id": "h1", "action": "Nell pockets the key."}, {"id": "h2", "action": "Omar kneads dough."}]}}
    setting = "warm bakery, flour dust, copper pans, wooden shelves, morning light, " * 8  # ~104 tokens
    prompts = {"s1": {"prompts": [
        {"shot_id": "h1", "start_prompt": "Nell pockets the key. " + setting},
        {"shot_id": "h2", "start_prompt": setting + "Omar kneads dough."},
    ]}}
    got = metrics.prompt_action(prompts, shots)
    assert (got["prompts"], got["action_cut"]) == (2, 1) and "h2" in got["evidence"][0]
    assert got["max_tokens"] > metrics.CLIP_LIMIT
    assert metrics.clip_tokens("INT. BAKERY - DAY") == 5


def test_described_counts_characters_whose_description_uses_a_look_word_of_the_story() -> None:
    labels = StoryLabels.model_validate({
        "title": "The Key", "genre": "drama", "places": [],
        "characters": [
            {"name": "Nell Draper", "aliases": ["Nell"], "speaks": True, "look": ["baker", "flour"]},
            {"name": "Omar Quist", "aliases": ["Omar"], "speaks": False, "look": ["apron"]},
            {"name": "Ida", "speaks": False},  # no look words: not counted
        ],
    })
    assets = {"registry": {"assets": [
        {"name": "Nell Draper", "category": "character", "description": "Nell is a baker, flour to the elbows.",
         "story_look": "Nell is a baker, flour to the elbows."},
        {"name": "Omar", "category": "character", "description": "A tall man in glasses."},
    ]}}
    got = metrics.described(labels, assets)
    assert (got["described"], got["labelled"], got["missing"]) == (1, 2, ["Omar Quist"])
    assert got["characters"][0]["from_story"] and not got["characters"][1]["from_story"]
    assert metrics.described(labels, None)["described"] == 0
    assert metrics.described(LABELS, assets)["labelled"] == 0  # labels without look words (the default)


def test_a_look_shown_before_the_scene_that_tells_its_change_is_early_not_caught() -> None:
    change = LABELS.look_changes[0].model_copy(update={"told_by": ["puts on", "pulls on"]})
    labels = LABELS.model_copy(update={"look_changes": [change]})
    pier_again = {"id": "s3", "number": "3", "heading": "EXT. PIER - NIGHT", "location": "PIER", "elements": [
        _el("action", "Nell pulls on her father's red coat against the wind.")]}
    sc = script(BAKERY, PIER, pier_again)
    # The coat shows at the pier in scene 2, but scene 3 is the one that tells her putting it on.
    early = {"s2": {"states": [{"asset_id": "a1", "description": "Nell in her father's red coat"}]},
             "s3": {"states": [{"asset_id": "a1", "description": "Nell in her father's red coat"}]}}
    got = metrics.look_changes(labels, sc, ASSETS, early)
    assert got["caught"] == 0 and got["changes"][0]["early"] == [2]
    assert "before scene 3 that tells the change" in got["changes"][0]["why"]
    # From the telling scene on it is caught; one loose keyword before it ("coat") is no new look.
    on_time = {"s1": {"states": [{"asset_id": "a1", "description": "Nell in a grey apron and a thin coat"}]},
               "s3": {"states": [{"asset_id": "a1", "description": "Nell in her father's red coat"}]}}
    got = metrics.look_changes(labels, sc, ASSETS, on_time)
    assert got["caught"] == 1 and got["changes"][0]["early"] == []
    # No telling scene at the labelled place from the change on: not caught, and it says why.
    got = metrics.look_changes(labels, script(BAKERY, PIER, {**pier_again, "heading": "INT. BAKERY - NIGHT",
                                                              "location": "BAKERY"}), ASSETS, on_time)
    assert got["caught"] == 0 and "which tells the change" in got["changes"][0]["why"]


def test_a_word_the_story_uses_before_the_change_does_not_show_the_new_look_early() -> None:
    """Three-tier at 1f049c7: Adaeze baking in scene 1 ("working on her grandmother's cake ...
    walls covered in white wallpaper") read as already covered in cake, because "cake" was a
    keyword of a story about a cake. A keyword the story says before it tells the change no
    longer counts towards an early look; the same state with the new look's own words still does."""
    change = LABELS.look_changes[0].model_copy(update={"keywords": ["coat", "red coat", "wind-blown"],
                                                       "told_by": ["pulls on"]})
    labels = LABELS.model_copy(update={"look_changes": [change]})
    story = ("Nell hangs a coat on the hook by the bakery oven.\n\n"
             "At the pier Nell pulls on her father's red coat, her hair wind-blown.")
    pier_again = {"id": "s3", "number": "3", "heading": "EXT. PIER - NIGHT", "location": "PIER", "elements": [
        _el("action", "Nell pulls on her father's red coat against the wind.")]}
    sc = script(BAKERY, PIER, pier_again)
    baking = {"s2": {"states": [{"asset_id": "a1", "description": "Nell by a coat on its hook, her hair wind-blown"}]},
              "s3": {"states": [{"asset_id": "a1", "description": "Nell in her father's red coat"}]}}
    assert metrics.look_changes(labels, sc, ASSETS, baking)["changes"][0]["early"] == [2]  # without the story
    got = metrics.look_changes(labels, sc, ASSETS, baking, story)
    assert got["caught"] == 1 and got["changes"][0]["early"] == []
    shown = {**baking, "s2": {"states": [{"asset_id": "a1", "description": "Nell in a red coat, wind-blown"}]}}
    assert metrics.look_changes(labels, sc, ASSETS, shown, story)["changes"][0]["early"] == [2]
    assert metrics.fresh_words(change, "Nell pulls on the coat.") == change  # told in the first paragraph: all count


def test_a_look_change_no_scene_tells_is_not_caught_even_where_the_new_look_shows() -> None:
    """The salt crown at aadab80 had no scene of the crowning, yet Oriel's states showed her crowned
    from the far shore on, and the metric counted that as caught: the film never shows it happen.
    With the label's words of the act, a change no scene says is missed, and the row says why."""
    change = LABELS.look_changes[0].model_copy(update={"told_by": ["puts on", "pulls on"]})
    labels = LABELS.model_copy(update={"look_changes": [change]})
    shown = {"s2": {"states": [{"asset_id": "a1", "description": "Nell in her father's red coat"}]}}
    got = metrics.look_changes(labels, script(BAKERY, PIER), ASSETS, shown)
    assert got["caught"] == 0 and got["changes"][0]["why"] == 'no scene tells the change (none says "puts on", "pulls on")'
    told = {**PIER, "elements": [_el("action", "On the pier Nell pulls on her father's red coat.")]}
    assert metrics.look_changes(labels, script(BAKERY, told), ASSETS, shown)["caught"] == 1
    assert metrics.look_changes(LABELS, script(BAKERY, PIER), ASSETS, shown)["caught"] == 1  # no words of the act labelled
