"""Stage 5 edits: pure functions from a StyleAndAssets to a new one, saved with `Runner.save`.

The checklist, remove and restore, keep an offered asset, add one by hand, merge two, split an
alias off, edit or adapt a description, choose a master reference, and the visual style. None
calls a model (model work goes through `Runner.run` with a target; see `aiuteur.pipeline.assets`).
Every refusal is an `InputError` in one plain sentence.

Example:
    sa = runner.view(pid).state.artifacts().assets or StyleAndAssets()
    sa = apply_checklist(sa, kept={hamlet.id, castle.id})
    runner.save(pid, Stage.ASSETS, sa)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from aiuteur.domain import (
    Asset,
    AssetCategory,
    InputError,
    Script,
    StyleAndAssets,
    Take,
    VisualStyle,
)
from aiuteur.domain.names import names
from aiuteur.pipeline.assets import canonical, norm, scene_text
from aiuteur.pipeline.screen_words import not_a_thing

MAX_NAME = 80
MAX_DESCRIPTION = 2000


def _replace(sa: StyleAndAssets, assets: list[Asset]) -> StyleAndAssets:
    return sa.model_copy(update={"registry": sa.registry.model_copy(update={"assets": assets})})


def _get(sa: StyleAndAssets, asset_id: str) -> Asset:
    try:
        return sa.registry.get(asset_id)
    except KeyError:
        raise InputError(f"There is no asset {asset_id!r} in the registry; pick one from the list.") from None


def _update(sa: StyleAndAssets, asset_id: str, **changes: Any) -> StyleAndAssets:
    _get(sa, asset_id)
    return _replace(sa, [a.model_copy(update=changes) if a.id == asset_id else a for a in sa.registry.assets])


def _category(value: str | AssetCategory) -> AssetCategory:
    try:
        return AssetCategory(value)
    except ValueError:
        raise InputError(f"Unknown asset category {value!r}; use character, location or prop.") from None


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InputError("An asset needs a name; type one in.")
    why = not_a_thing(name)
    if why:
        raise InputError(f"{name!r} cannot be an asset: {why}. Name a character, a place or an object.")
    if len(name) > MAX_NAME:
        raise InputError(f"The name is {len(name)} characters long; keep it under {MAX_NAME}.")
    return name


def _check_description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InputError(f"The description is {len(text)} characters long; keep it under {MAX_DESCRIPTION}.")
    return text.strip()


# --- the checklist ----------------------------------------------------------------------------------


def apply_checklist(sa: StyleAndAssets, kept: Iterable[str]) -> StyleAndAssets:
    """Ticked assets get a master reference made up front; unticked ones are described from text later.

    Ticking an offered (new) asset keeps it. Removed assets are not on the checklist and stay removed.
    """
    keep = set(kept)
    assets = []
    for a in sa.registry.assets:
        if not a.removed:
            ticked = a.id in keep
            a = a.model_copy(update={"pregenerate": ticked, "offered": a.offered and not ticked})
        assets.append(a)
    return _replace(sa, assets)


def remove_asset(sa: StyleAndAssets, asset_id: str) -> StyleAndAssets:
    """Take an asset out of the film; later extractions never bring it back."""
    return _update(sa, asset_id, removed=True, pregenerate=False, offered=False)


def restore_asset(sa: StyleAndAssets, asset_id: str) -> StyleAndAssets:
    """Bring a removed asset back (not pre-generated until ticked)."""
    return _update(sa, asset_id, removed=False)


def keep_offered(sa: StyleAndAssets, asset_id: str) -> StyleAndAssets:
    """Accept an asset a re-extraction offered: it joins the checklist, ticked."""
    return _update(sa, asset_id, offered=False, pregenerate=True)


# --- add, edit, merge, split ----------------------------------------------------------------------


def add_asset(sa: StyleAndAssets, name: str, category: str | AssetCategory, description: str = "",
              scenes: Iterable[str] = ()) -> StyleAndAssets:
    """Add an asset by hand (it is appended last). Refuses a name the registry already has."""
    name = _check_name(name)
    cat = _category(category)
    for a in sa.registry.assets:
        if a.category == cat and canonical(name, cat) in {canonical(n, cat) for n in [a.name, *a.aliases]}:
            state = " (removed; restore it instead)" if a.removed else ""
            raise InputError(f"There is already a {cat.value} called {a.name}{state}.")
    asset = Asset(name=name, category=cat, description=_check_description(description), scenes=list(scenes),
                  origin="user", user_edited=bool(description.strip()))
    return _replace(sa, [*sa.registry.assets, asset])


def edit_asset(sa: StyleAndAssets, asset_id: str, *, name: str | None = None, description: str | None = None,
               category: str | AssetCategory | None = None) -> StyleAndAssets:
    """Rename, re-describe or re-categorise an asset. A changed description is never overwritten again."""
    a = _get(sa, asset_id)
    changes: dict[str, Any] = {}
    if name is not None and _check_name(name) != a.name:
        changes["name"] = _check_name(name)
        changes["aliases"] = list(dict.fromkeys([*a.aliases, a.name]))  # the old name still finds it
    if description is not None and description.strip() != a.description.strip():
        changes |= {"description": _check_description(description), "user_edited": True}
    if category is not None and _category(category) != a.category:
        changes["category"] = _category(category)
    return _update(sa, asset_id, **changes) if changes else sa


def merge_assets(sa: StyleAndAssets, keep_id: str, other_id: str) -> StyleAndAssets:
    """Merge `other` into `keep`: names become aliases, scenes, changes and image history are joined."""
    if keep_id == other_id:
        raise InputError("Choose two different assets to merge.")
    keep, other = _get(sa, keep_id), _get(sa, other_id)
    aliases = list(dict.fromkeys(n for n in [*keep.aliases, other.name, *other.aliases] if norm(n) != norm(keep.name)))
    seen = {(c.scene_id, c.description) for c in keep.state_changes}
    merged = keep.model_copy(update={
        "aliases": aliases,
        "scenes": list(dict.fromkeys([*keep.scenes, *other.scenes])),
        "state_changes": [*keep.state_changes, *(c for c in other.state_changes if (c.scene_id, c.description) not in seen)],
        "description": keep.description or other.description,
        "history": list(dict.fromkeys([*keep.history, *other.history])),
        "master_ref": keep.master_ref or other.master_ref,
        "master_ref_white": keep.master_ref_white if keep.master_ref else other.master_ref_white,
        "pregenerate": keep.pregenerate or other.pregenerate,
        "user_edited": keep.user_edited or other.user_edited,
        "removed": False, "offered": False,
    })
    return _replace(sa, [merged if a.id == keep_id else a for a in sa.registry.assets if a.id != other_id])


def split_alias(sa: StyleAndAssets, asset_id: str, alias: str, script: Script | None = None) -> StyleAndAssets:
    """Make an alias its own asset (e.g. King Hamlet out of Hamlet); with the script, it gets its scenes.

    The new asset owns that name from now on, so re-extraction keeps the two apart.
    """
    a = _get(sa, asset_id)
    match = next((x for x in a.aliases if norm(x) == norm(alias)), None)
    if match is None:
        listed = ", ".join(a.aliases) or "none"
        raise InputError(f"{a.name} has no alias {alias!r}; its aliases are: {listed}.")
    scenes: list[str] = []
    if script is not None:
        for scene in script.scenes:
            cues = {norm(c) for c in scene.characters}
            if norm(match) in cues or (scene.id in a.scenes and names(scene_text(scene), [match])):
                scenes.append(scene.id)
    new = Asset(name=match, category=a.category, scenes=scenes, origin="user", pregenerate=a.pregenerate)
    kept = a.model_copy(update={"aliases": [x for x in a.aliases if x != match]})
    assets = []
    for x in sa.registry.assets:
        assets.append(kept if x.id == asset_id else x)
        if x.id == asset_id:
            assets.append(new)
    return _replace(sa, assets)


# --- descriptions and references ---------------------------------------------------------------------


def merge_text(current: str, proposal: str) -> str:
    """The current description plus every sentence of the proposal it does not already say."""
    current = current.strip()
    if not current:
        return proposal.strip()
    have = {norm(s) for s in re.split(r"(?<=[.!?])\s+", current) if s.strip()}
    extra = [s.strip() for s in re.split(r"(?<=[.!?])\s+", proposal.strip()) if s.strip() and norm(s) not in have]
    if not extra:
        return current
    joined = current if current.endswith((".", "!", "?")) else current + "."
    return " ".join([joined, *extra])


def apply_description(sa: StyleAndAssets, asset_id: str, proposal: str,
                      mode: Literal["replace", "merge"] = "replace") -> StyleAndAssets:
    """Use a proposed description (from an image): replace the current one, or merge the two."""
    if mode not in ("replace", "merge"):
        raise InputError(f"Unknown mode {mode!r}; replace the description or merge the two.")
    if not proposal.strip():
        raise InputError("The proposed description is empty; describe the asset in your own words.")
    a = _get(sa, asset_id)
    text = proposal.strip() if mode == "replace" else merge_text(a.description, proposal)
    return _update(sa, asset_id, description=_check_description(text), user_edited=True)


def choose_reference(sa: StyleAndAssets, take: Take) -> StyleAndAssets:
    """Make a reference take the asset's master reference (every take stays in its history)."""
    if not take.ok or not take.output or "rgba" not in take.output:
        raise InputError(f"That take has no image ({take.error or 'not a reference'}); choose another one.")
    asset_id = str(take.output["asset_id"])
    a = _get(sa, asset_id)
    history = a.history if take.id in a.history else [*a.history, take.id]
    return _update(sa, asset_id, master_ref=take.output["rgba"], master_ref_white=take.output["white"],
                   history=history)


# --- style ------------------------------------------------------------------------------------------


def set_style(sa: StyleAndAssets, style: VisualStyle) -> StyleAndAssets:
    """Replace the visual style (from the capsule or the written form; see `visual_style`)."""
    return sa.model_copy(update={"style": style})


__all__ = [
    "add_asset", "apply_checklist", "apply_description", "choose_reference", "edit_asset",
    "keep_offered", "merge_assets", "merge_text", "remove_asset", "restore_asset", "set_style", "split_alias",
]
