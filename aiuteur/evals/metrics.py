"""The eval metrics: plain, lexical measures of the pipeline's artifacts against a story's labels.

Every function takes artifacts as saved (the JSON dicts of `aiuteur.domain` models) and returns
numbers and the evidence behind them, so a table entry can be traced to the words that made it.
None of them calls a model: they are transparent on purpose, and a person can redo any count by
hand. Names match case-insensitively by whole words (an alias "Dov" matches "DOV ABERNATHY").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from aiuteur.domain.names import names
from aiuteur.evals.corpus import CharacterLabel, LookChangeLabel, StoryLabels

Data = dict[str, Any]

# -- words ---------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # any script: a Cyrillic or accented name is words too
_SENTENCE = re.compile(r"(?<=[.!?…])[\"”’')]*\s+|\n+")  # a straight ' closes a quotation too ('… may leave.' The …)


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold().replace("’", "'"))


def norm(text: str) -> str:
    """Lower case, punctuation dropped, single spaces: what 'the same words' compares."""
    return " ".join(words(text))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _has_phrase(haystack_words: Sequence[str], phrase: str) -> bool:
    needle = words(phrase)
    if not needle:
        return False
    n = len(needle)
    return any(list(haystack_words[i : i + n]) == needle for i in range(len(haystack_words) - n + 1))


def mentions(text: str, phrases: Iterable[str]) -> bool:
    """Whether `text` names any of `phrases` as whole words, in any case (the stages' own rule:
    "Marisol's" names Marisol, "rosewood" does not name a rose)."""
    return names(text, phrases)


def names_match(label_names: Iterable[str], found_names: Iterable[str]) -> bool:
    """A label matches a found name when one's words appear in order inside the other's."""
    found = [words(f) for f in found_names if words(f)]
    for name in label_names:
        lw = words(name)
        if not lw:
            continue
        for fw in found:
            if _has_phrase(fw, name) or _has_phrase(lw, " ".join(fw)):
                return True
    return False


# -- the artifacts, read loosely (a metric must survive a half-made artifact) ---------------------


def scenes_of(script: Data | None) -> list[Data]:
    return list((script or {}).get("scenes") or [])


def elements(scene: Data, kind: str) -> list[Data]:
    return [e for e in scene.get("elements") or [] if e.get("kind") == kind]


def scene_place(scene: Data) -> str:
    return " ".join(str(scene.get(k) or "") for k in ("heading", "location"))


def registry_assets(assets: Data | None, category: str | None = None) -> list[Data]:
    reg = ((assets or {}).get("registry") or {}).get("assets") or []
    return [a for a in reg if not a.get("removed") and (category is None or a.get("category") == category)]


def asset_names(asset: Data) -> list[str]:
    return [str(asset.get("name") or ""), *[str(x) for x in asset.get("aliases") or []]]


def find_asset(assets: Data | None, label: CharacterLabel) -> Data | None:
    for a in registry_assets(assets, "character"):
        if names_match(label.names, asset_names(a)):
            return a
    return None


# -- 1. characters and speakers --------------------------------------------------------------------


def characters(labels: StoryLabels, assets: Data | None) -> Data:
    """Named characters of the story found among the extracted character assets."""
    found = [c.name for c in labels.characters if find_asset(assets, c) is not None]
    extracted = [str(a.get("name")) for a in registry_assets(assets, "character")]
    return {
        "labelled": len(labels.characters),
        "extracted": len(found),
        "missing": [c.name for c in labels.characters if c.name not in found],
        "assets": extracted,
    }


def described(labels: StoryLabels, assets: Data | None) -> Data:
    """Labelled characters whose character asset's description uses at least one of the words the
    story says of their look (`CharacterLabel.look`); characters with no look words are not counted."""
    rows = []
    for c in labels.characters:
        if not c.look:
            continue
        a = find_asset(assets, c)
        description = str((a or {}).get("description") or "")
        rows.append({"character": c.name, "described": bool(description) and mentions(description, c.look),
                     "from_story": bool((a or {}).get("story_look")), "description": description[:200]})
    return {
        "labelled": len(rows),
        "described": sum(1 for r in rows if r["described"]),
        "missing": [r["character"] for r in rows if not r["described"]],
        "characters": rows,
    }


def speakers(labels: StoryLabels, script: Data | None) -> Data:
    """Labelled speakers who have at least one line of dialogue in the script."""
    cues = Counter(str(e.get("character") or "") for s in scenes_of(script) for e in elements(s, "dialogue"))
    labelled = [c for c in labels.characters if c.speaks]
    speaking = [c.name for c in labelled if names_match(c.names, [k for k in cues if k])]
    return {
        "labelled": len(labelled),
        "speaking": len(speaking),
        "missing": [c.name for c in labelled if c.name not in speaking],
        "dialogue_lines": sum(cues.values()),
        "cues": dict(cues),
    }


# -- 2. the shot list never alters dialogue ---------------------------------------------------------


def dialogue_altered(script: Data | None, shots_by_scene: dict[str, Data | None]) -> Data:
    """Dialogue lines of the script that the shot lists do not carry exactly once, in order.

    A shot points at the scene's dialogue by index (its words are copied by code); a line
    missing, doubled, out of order or pointed at past the end counts as altered. A line too long
    for one shot may run on through the next shots (stage 7 splits it where it is spoken): it
    counts once when the shot list's spoken parts of it, joined, are the script's line word for
    word. A shot that carries its own `lines` text (as 'SPEAKER: words') is compared word for
    word as well.
    """
    altered: list[str] = []
    checked = 0
    for scene in scenes_of(script):
        sid = str(scene.get("id"))
        shots = shots_by_scene.get(sid)
        if shots is None:
            continue
        lines = elements(scene, "dialogue")
        checked += len(lines)
        carried = [(k, i) for k, sh in enumerate(shots.get("shots") or []) for i in sh.get("dialogue") or []]
        got = [i for _, i in carried]
        # a line running on into the very next shot counts once
        runs = [i for n, (k, i) in enumerate(carried) if n == 0 or carried[n - 1] != (k - 1, i)]
        counts, shots_with = Counter(runs), Counter(got)
        parts: dict[int, list[tuple[int, str]]] = {}
        for spoken in shots.get("lines") or []:
            if isinstance(spoken, dict) and isinstance(spoken.get("dialogue"), int):
                parts.setdefault(spoken["dialogue"], []).append((int(spoken.get("part") or 0), str(spoken.get("text"))))
        number = scene.get("number", sid)
        for i, line in enumerate(lines):
            if counts.get(i, 0) != 1:
                altered.append(f"scene {number} line {i + 1} ({line.get('character')}) appears {counts.get(i, 0)} times")
            elif shots_with[i] > 1:
                pieces = [t for _, t in sorted(parts.get(i, []))]
                if norm(" ".join(pieces)) != norm(str(line.get("text"))):  # a shot may speak two parts
                    altered.append(f"scene {number} line {i + 1} ({line.get('character')}) runs over "
                                   f"{shots_with[i]} shots, but its spoken parts are not the line word for word")
        for i in sorted(set(got)):
            if not 0 <= i < len(lines):
                altered.append(f"scene {number}: a shot points at line {i + 1}, which does not exist")
        firsts = [i for k, i in enumerate(got) if i not in got[:k]]
        if firsts != sorted(firsts):
            altered.append(f"scene {number}: dialogue out of the script's order")
        script_lines = {norm(f"{e.get('character')}: {e.get('text')}") for e in lines}
        for sh in shots.get("shots") or []:
            for text in sh.get("lines") or []:
                if norm(str(text)) not in script_lines:
                    altered.append(f"scene {number} shot {sh.get('number')}: {str(text)[:60]!r} is not a line of the script")
    return {"checked": checked, "altered": len(altered), "evidence": altered[:10]}


def _vocab(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- 3. visual verbosity of action lines --------------------------------------------------------------

#: Transparent word lists: an action line "names" a category when it uses one of these words.
VISUAL_WORDS: dict[str, frozenset[str]] = {
    "appearance": _vocab(
        "hair haired face faced eyes eyed beard bald tall short small thin stout skin freckled pale wrinkled "
        "young old elderly scar scarred tattoo glasses spectacles grey gray blonde red-haired braid bun curls "
        "cropped tufts muscular slight frail lanky plump"
    ),
    "wardrobe": _vocab(
        "wearing wears wore dressed coat jacket suit tuxedo dress gown shirt blouse skirt trousers jeans "
        "boots shoes socks hat cap hood cloak apron uniform tunic cardigan jumper sweater scarf gloves "
        "tie bow oilskins raincoat smock robe crown badge sequins sequinned sequined vest overalls "
        "pyjamas nightgown fleece hi-vis costume"
    ),
    "place": _vocab(
        "room kitchen hall door doorway window wall walls floor ceiling stairs steps street road alley "
        "yard square shop bar counter table desk bench corridor deck stage roof rooftop tunnel lake shore "
        "sea river marsh field garden bus tram train van car office platform terminal foyer cellar hut "
        "throne mine bridge gate park beach forest"
    ),
    "light": _vocab(
        "light lights lit lamp lamplight lantern candle candlelight glow glows glowing shadow shadows "
        "dark darkness dim bright sunlight sunlit moonlight moon sun dusk dawn twilight neon spotlight "
        "torch flicker flickers flickering gloom silhouette silhouetted fluorescent firelight haze "
        "glitter glitters shine shines shining"
    ),
}


def visual_verbosity(script: Data | None) -> Data:
    """How many action lines name appearance, wardrobe, place and light (lexically).

    `score` is the mean number of categories an action line names (0 to 4).
    """
    lines = [str(e.get("text") or "") for s in scenes_of(script) for e in elements(s, "action")]
    per_cat = {cat: 0 for cat in VISUAL_WORDS}
    total = 0
    for line in lines:
        w = set(words(line))
        for cat, vocab in VISUAL_WORDS.items():
            if w & vocab:
                per_cat[cat] += 1
                total += 1
    n = len(lines)
    return {
        "action_lines": n,
        "score": round(total / n, 2) if n else 0.0,
        **{f"{cat}_share": round(per_cat[cat] / n, 2) if n else 0.0 for cat in VISUAL_WORDS},
    }


# -- 4. loops and copies ------------------------------------------------------------------------------


def ngram_loops(text: str, n: int = 4, times: int = 3) -> list[str]:
    """Word n-grams that occur `times` or more in one text: the sign of a model going round in circles."""
    w = words(text)
    grams = Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    return [" ".join(g) for g, c in grams.most_common() if c >= times]


def loops(texts: Iterable[str], n: int = 4, times: int = 3, *, wholes: Iterable[str] = ()) -> Data:
    """Texts with a looping n-gram, and the repeated lines: the same long line twice or more, or
    any line three times or more (a scene of twenty action lines that each say "Ines,").
    `wholes` (a scene's lines joined) are read for loops that run across lines, not counted as lines."""
    texts = [t for t in texts if t and t.strip()]
    looping = [(t, ngram_loops(t, n, times)) for t in [*texts, *(w for w in wholes if w not in texts)]]
    looping = [(t, g) for t, g in looping if g]
    dupes = Counter(norm(t) for t in texts)
    repeated = [t for t, c in dupes.items() if (c > 1 and len(t.split()) >= 5) or c >= times]
    return {
        "texts": len(texts),
        "looping": len(looping),
        "repeated_lines": len(repeated),
        "evidence": [g[0] for _, g in looping[:5]] + [r[:60] for r in repeated[:5]],
    }


def dialogue_loops(scenes: Iterable[Data], story: str = "") -> Data:
    """Lines of dialogue said again: within one scene, three words or more twice or any line three
    times (two voices taking turns in a loop: "Tell your daughter." / "That her father keeps a
    filthy kitchen.", eleven times over); across scenes, a line of three words or more, or a
    shorter one of the story's, in more scenes than the story itself says it (Lune's two lines in all three scenes; a refrain the story
    repeats is allowed)."""
    lines = repeated = 0
    evidence: list[str] = []
    in_scenes: Counter[str] = Counter()
    for scene in scenes:
        said = Counter(norm(str(e.get("text") or "")) for e in elements(scene, "dialogue"))
        lines += sum(said.values())
        again = [t for t, c in said.items() if t and ((c > 1 and len(t.split()) >= 3) or c >= 3)]
        repeated += len(again)
        evidence += [f"{t[:50]} (x{said[t]})" for t in again]
        in_scenes.update(t for t in said if t)
    told = f" {norm(story)} "
    # across scenes: three words or more, or a shorter line the story has ("Thursday rehearsals.")
    in_scenes = Counter({t: c for t, c in in_scenes.items() if len(t.split()) >= 3 or f" {t} " in told})
    across = [t for t, c in in_scenes.items() if c > max(1, told.count(f" {t} "))]
    repeated += len(across)
    evidence += [f"{t[:50]} (in {in_scenes[t]} scenes)" for t in across]
    return {"lines": lines, "looping": 0, "repeated_lines": repeated, "evidence": evidence[:5]}


def copied_sentences(story: str, texts: Iterable[str], min_words: int = 6) -> Data:
    """Sentences of `texts` (of at least `min_words` words) found word for word in the story."""
    story_norm = f" {norm(story)} "
    copied: list[str] = []
    total = 0
    for text in texts:
        for s in sentences(text):
            w = words(s)
            if len(w) < min_words:
                continue
            total += 1
            if f" {' '.join(w)} " in story_norm:
                copied.append(s)
    return {"sentences": total, "copied": len(copied), "evidence": [c[:80] for c in copied[:5]]}


# -- 5. continuity: look changes in the right scene ------------------------------------------------------


def states_text(states: Data | None, asset_id: str) -> str:
    for st in (states or {}).get("states") or []:
        if st.get("asset_id") == asset_id:
            parts = [str(st.get("description") or "")] + [str(c.get("description") or "") for c in st.get("changes") or []]
            return " ".join(parts)
    return ""


def shows_new_look(text: str, change: LookChangeLabel) -> bool:
    """A state that shows the new look for sure: two of its keywords or a word of the act (one
    keyword alone is loose: the wash bay's "jacket" is also Teodora's casual black one)."""
    return sum(mentions(text, [k]) for k in change.keywords) >= 2 or mentions(text, change.told_by)


def fresh_words(change: LookChangeLabel, story: str) -> LookChangeLabel:
    """The change's keywords and words of the act less those the story already uses before the
    paragraph that tells it: they say what the world was like before the change, not the new look
    (three-tier's "cake", in a story about a cake, flagged Adaeze baking in scene 1 as already
    covered in it at 1f049c7)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", story) if p.strip()]
    at = next((i for i, p in enumerate(paragraphs) if change.told_by and mentions(p, change.told_by)), None)
    if not at:
        return change
    before = "\n\n".join(paragraphs[:at])
    return change.model_copy(update={"keywords": [k for k in change.keywords if not mentions(before, [k])],
                                     "told_by": [t for t in change.told_by if not mentions(before, [t])]})


def look_changes(labels: StoryLabels, script: Data | None, assets: Data | None,
                 states_by_scene: dict[str, Data | None], story: str = "") -> Data:
    """Each labelled look change: is it in the asset state of a scene set where the new look shows,
    and not before the scene that tells it?

    `caught` counts changes found in the scene asset states (stage 8); `in_registry` those found
    in the registry's state changes for such a scene (stage 5), for where a miss comes from. With
    the label's `told_by` (the words of the act), the first scene whose lines say them is where
    the change happens: a state showing the new look in a scene before it is `early`, and the
    change is not caught (the-salt-crown at 72acc67 showed the crown three scenes early), and when
    no scene says them the change is not caught either: the film never shows it happen (the salt
    crown at aadab80 had no scene of the crowning, yet showed Oriel crowned from the far shore). With the
    `story`, a word the story uses before it tells the change does not show the new look early
    (`fresh_words`).
    """
    results: list[Data] = []
    for change in labels.look_changes:
        label = labels.character(change.character)
        asset = find_asset(assets, label)
        all_scenes = scenes_of(script)
        order = {str(s.get("id")): i for i, s in enumerate(all_scenes)}
        told = next((i for i, s in enumerate(all_scenes) if change.told_by and mentions(
            " ".join(str(e.get("text") or "") for e in s.get("elements") or []), change.told_by)), None)
        scenes = [s for s in all_scenes if mentions(scene_place(s), change.place)
                  and (told is None or order[str(s.get("id"))] >= told)]
        row: Data = {"character": change.character, "change": change.change, "caught": False,
                     "in_registry": False, "early": [], "why": ""}
        if asset is None:
            row["why"] = "the character was not extracted"
        elif change.told_by and told is None and all_scenes:
            row["why"] = "no scene tells the change (none says " + ", ".join(f'"{t}"' for t in change.told_by[:3]) + ")"
        elif not scenes:
            row["why"] = "no scene is set where the new look shows" + (
                "" if told is None else f" (from scene {told + 1}, which tells the change, on)")
        else:
            aid = str(asset.get("id"))
            sids = {str(s.get("id")) for s in scenes}
            row["in_registry"] = any(
                c.get("scene_id") in sids and mentions(str(c.get("description") or ""), change.keywords)
                for c in asset.get("state_changes") or []
            )
            fresh = fresh_words(change, story)
            early = [i + 1 for i, s in enumerate(all_scenes) if told is not None and i < told
                     and shows_new_look(states_text(states_by_scene.get(str(s.get("id"))), aid), fresh)]
            row["early"] = early
            row["caught"] = not early and any(
                mentions(states_text(states_by_scene.get(sid), aid), change.keywords) for sid in sids)
            if early and told is not None:
                row["why"] = (f"the new look shows in scene{'s' if len(early) > 1 else ''} "
                              f"{', '.join(map(str, early))}, before scene {told + 1} that tells the change")
            elif not row["caught"]:
                made = [sid for sid in sids if states_by_scene.get(sid) is not None]
                row["why"] = ("no asset states were made for those scenes" if not made
                              else "the asset state there does not describe the change")
        results.append(row)
    return {"labelled": len(results), "caught": sum(r["caught"] for r in results),
            "in_registry": sum(r["in_registry"] for r in results), "changes": results}


# -- 6. places -----------------------------------------------------------------------------------------


def places(labels: StoryLabels, script: Data | None) -> Data:
    """Labelled places that became a scene (in a heading), or are at least named in one's action."""
    scenes = scenes_of(script)
    as_scene, named, missing = [], [], []
    for place in labels.places:
        if any(mentions(scene_place(s), place.names) for s in scenes):
            as_scene.append(place.name)
        elif any(mentions(str(e.get("text") or ""), place.names) for s in scenes for e in elements(s, "action")):
            named.append(place.name)
        else:
            missing.append(place.name)
    return {"labelled": len(labels.places), "as_scene": len(as_scene), "named": len(named),
            "covered": len(as_scene) + len(named), "missing": missing, "scenes": len(scenes)}


# -- 7. things that are not things ------------------------------------------------------------------------

TIMES_OF_DAY = _vocab(
    "day night dusk dawn morning evening afternoon noon midnight twilight sunset sunrise later continuous "
    "moments"
)
_HEADING = re.compile(r"^\s*(int|ext|int\.?/ext|i/e|est)[.\s/]", re.IGNORECASE)
_TRANSITION = re.compile(r"\b(cut to|fade (in|out|to)|dissolve to|smash cut|match cut|wipe to)\b", re.IGNORECASE)


def not_a_thing(name: str) -> str:
    """Why `name` is not a character, place or prop ('' when it may be one)."""
    w = words(name)
    if not w:
        return "empty"
    if _HEADING.match(name):
        return "a scene heading"
    place, dash, when = name.strip().rstrip(":").rpartition(" - ")
    if dash and place and words(when) and all(x in TIMES_OF_DAY for x in words(when)):
        return "a scene heading"
    if _TRANSITION.search(name):
        return "a transition"
    if all(x in TIMES_OF_DAY or x in ("the", "of", "early", "late", "same", "next") for x in w):
        return "a time of day"
    return ""


def non_things(assets: Data | None, shots_by_scene: dict[str, Data | None]) -> Data:
    """Assets that are times of day, headings or transitions; shots whose action is one."""
    bad_assets = [f"{a.get('name')!r} ({why})" for a in registry_assets(assets) if (why := not_a_thing(str(a.get("name") or "")))]
    bad_shots = []
    for shots in shots_by_scene.values():
        for sh in (shots or {}).get("shots") or []:
            action = str(sh.get("action") or "").strip().rstrip(":")
            if action and (why := not_a_thing(action)):
                bad_shots.append(f"shot {sh.get('number')}: {action[:40]!r} ({why})")
    return {"assets": len(bad_assets), "shot_actions": len(bad_shots), "evidence": (bad_assets + bad_shots)[:10]}


# -- 8. shots: variety and what is in frame ------------------------------------------------------------------


def shot_variety(shots_by_scene: dict[str, Data | None], assets: Data | None) -> Data:
    """Distinct sizes and angles, the most common size's share, and shots that list every asset."""
    all_shots = [sh for shots in shots_by_scene.values() for sh in (shots or {}).get("shots") or []]
    n = len(all_shots)
    sizes = Counter(str(sh.get("size")) for sh in all_shots)
    angles = Counter(str(sh.get("angle")) for sh in all_shots)
    everyone = 0
    eligible = 0
    for sid, shots in shots_by_scene.items():
        in_scene = {str(a.get("id")) for a in registry_assets(assets) if sid in (a.get("scenes") or [])}
        if len(in_scene) < 3:
            continue
        for sh in (shots or {}).get("shots") or []:
            eligible += 1
            if in_scene <= set(sh.get("assets") or []):
                everyone += 1
    return {
        "shots": n,
        "sizes": len(sizes),
        "angles": len(angles),
        "top_size_share": round(sizes.most_common(1)[0][1] / n, 2) if n else 0.0,
        "top_angle_share": round(angles.most_common(1)[0][1] / n, 2) if n else 0.0,
        "every_asset_share": round(everyone / eligible, 2) if eligible else 0.0,
    }


# -- 9. treatments and beats ---------------------------------------------------------------------------------


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def treatments(story: str, treatment: Data | None) -> Data:
    """How many variants, how alike (word-trigram Jaccard, 0 = nothing shared), and copying per variant."""
    variants = list((treatment or {}).get("variants") or [])
    texts = [f"{v.get('logline', '')} {v.get('prose', '')}" for v in variants]
    sims = [jaccard(texts[i], texts[j]) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    copies = [copied_sentences(story, [str(v.get("prose") or "")])["copied"] for v in variants]
    loglines = {norm(str(v.get("logline") or "")) for v in variants}
    return {
        "count": len(variants),
        "max_similarity": round(max(sims), 2) if sims else 0.0,
        "mean_similarity": round(sum(sims) / len(sims), 2) if sims else 0.0,
        "same_logline": len(variants) > 1 and len(loglines) < len(variants),
        "copied_per_variant": copies,
        "max_copied": max(copies) if copies else 0,
    }


def beat_spread(treatment: Data | None, beats: Data | None) -> Data:
    """Where the beats' cited passages sit in the chosen treatment: thirds covered and distinct passages."""
    t = treatment or {}
    variants = t.get("variants") or []
    chosen = int(t.get("chosen") or 0)
    prose = norm(str(variants[chosen].get("prose") or "")) if 0 <= chosen < len(variants) else ""
    items = list((beats or {}).get("beats") or [])
    passages = [norm(str(b.get("source_passage") or "")) for b in items]
    thirds: set[int] = set()
    for p in passages:
        at = prose.find(p) if p else -1
        if at >= 0 and prose:
            thirds.add(min(2, int(3 * (at + len(p) / 2) / len(prose))))
    return {"beats": len(items), "distinct_passages": len({p for p in passages if p}),
            "thirds_covered": len(thirds)}


# -- 10. frame prompts: is the shot's action inside what the image model reads? -------------------------------

CLIP_LIMIT = 77  # tokens, start and end markers included: the text encoder of SD-family models reads no more
_CLIP_PIECE = re.compile(r"[A-Za-z]+|\d|[^\sA-Za-z\d]")


def clip_tokens(text: str) -> int:
    """An estimate of CLIP tokens: one per word, digit and punctuation mark (CLIP's BPE keeps common
    English words whole and splits punctuation off); rare long words cost more, so this is a floor."""
    return len(_CLIP_PIECE.findall(text))


def prompt_action(prompts_by_scene: dict[str, Data | None], shots_by_scene: dict[str, Data | None]) -> Data:
    """Start-frame prompts whose shot action starts past the 77-token window (so the frame never sees it)."""
    n, cut, lengths = 0, [], []
    for sid, prompts in prompts_by_scene.items():
        actions = {str(sh.get("id")): str(sh.get("action") or "") for sh in (shots_by_scene.get(sid) or {}).get("shots") or []}
        for p in (prompts or {}).get("prompts") or []:
            text = str(p.get("start_prompt") or "")
            action = actions.get(str(p.get("shot_id")), "")
            n += 1
            lengths.append(clip_tokens(text))
            head = " ".join(action.split()[:4])
            at = text.find(head) if head else -1
            if head and (at < 0 or clip_tokens(text[:at]) + clip_tokens(head) > CLIP_LIMIT - 2):
                cut.append(f"{p.get('shot_id')}: {head!r} at token {clip_tokens(text[:at]) if at >= 0 else 'absent'}")
    return {"prompts": n, "action_cut": len(cut), "max_tokens": max(lengths, default=0),
            "mean_tokens": round(sum(lengths) / len(lengths), 1) if lengths else 0.0, "evidence": cut[:5]}


# -- 11. examples from prompts leaking into the film ------------------------------------------------------------

SCREENPLAY_WORDS = _vocab("int ext day night dusk dawn morning evening continuous later the of a an and")


def prompt_leaks(story: str, script: Data | None, assets: Data | None, example_words: set[str]) -> Data:
    """Names in the film (headings, speakers, assets) using a word that is in a prompt's examples, not in the story."""
    story_words = set(words(story))
    names: list[str] = []
    for s in scenes_of(script):
        names.append(scene_place(s))
        names += [str(e.get("character") or "") for e in elements(s, "dialogue")]
    names += [str(a.get("name") or "") for a in registry_assets(assets)]
    leaks = sorted({f"{n.strip()[:40]} ({w})" for n in names for w in words(n)
                    if w not in story_words and w not in SCREENPLAY_WORDS and w in example_words})
    return {"leaks": len(leaks), "evidence": leaks[:10]}
