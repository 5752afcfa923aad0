"""Stage 5, visual style: a capsule from the shared library, or a structured written description.

A visual capsule is a named set of style words (medium, look, palette, lighting, era,
references) and style images in a user's library, for every project of that user. The store
keeps it (`store.capsules`: one JSON file under the store's home, owned by one user, never seen
by another); its images are media keys of the store.

A project's `VisualStyle` is self-contained: choosing a capsule copies its words and images in
(keeping `capsule_id` to say where they came from), so a branch or a bundle never depends on the
library. A scene may switch style (live action → 3D animation): `scene_overrides` maps the scene
to a capsule, and `style_for_scene` resolves it. Visual style shapes images only, with an
influence below the asset references by default (DESIGN ideas 6 and 9).

Example:
    cap = create_capsule("Noir", medium="35mm film", palette="black and white", images=[key], library=lib)
    style = style_from_capsule(cap)                      # what the project saves
    words = style_words(style)                           # "35mm film, black and white"
"""

from __future__ import annotations

from aiuteur.domain import InputError, NotFoundError, StyleAndAssets, VisualStyle
from aiuteur.domain.capsules import DEFAULT_INFLUENCE, MAX_IMAGES, MAX_WORDS, VisualCapsule
from aiuteur.pipeline.capsules import default_library
from aiuteur.store.capsules import CapsuleLibrary

STYLE_FIELDS = ("medium", "look", "palette", "lighting", "era", "references")


# --- the library (the store keeps it, per user) --------------------------------------------------


def _check(name: str, words: dict[str, str], images: list[str]) -> None:
    if not name.strip():
        raise InputError("A visual style capsule needs a name; type one in.")
    if len(name) > 120:
        raise InputError(f"The capsule name is {len(name)} characters long; keep it under 120.")
    for label, text in words.items():
        if len(text) > MAX_WORDS:
            raise InputError(f"The {label} is {len(text)} characters long; keep it under {MAX_WORDS}.")
    if len(images) > MAX_IMAGES:
        raise InputError(f"A capsule holds at most {MAX_IMAGES} style images; it has {len(images)}.")
    if not (any(t.strip() for t in words.values()) or images):
        raise InputError("A visual style capsule needs some words (medium, look, palette…) or a style image.")


def list_capsules(library: CapsuleLibrary | None = None) -> list[VisualCapsule]:
    """The user's visual capsules, by name."""
    return default_library(library).list(VisualCapsule)


def get_capsule(capsule_id: str, library: CapsuleLibrary | None = None) -> VisualCapsule:
    """One of the user's capsules by id. Raises NotFoundError when there is none."""
    return default_library(library).get(VisualCapsule, capsule_id)


def create_capsule(name: str, *, medium: str = "", look: str = "", palette: str = "", lighting: str = "",
                   era: str = "", references: str = "", images: list[str] | None = None,
                   influence: float = DEFAULT_INFLUENCE, library: CapsuleLibrary | None = None) -> VisualCapsule:
    """Save a new capsule in the user's library and return it (with its generated id)."""
    words = {"medium": medium, "look": look, "palette": palette, "lighting": lighting, "era": era,
             "references": references}
    imgs = list(dict.fromkeys(images or []))
    _check(name, words, imgs)
    if not 0.0 <= influence <= 1.0:
        raise InputError(f"The style influence is {influence}; choose a value from 0 to 1.")
    capsule = VisualCapsule(name=name.strip(), images=imgs, influence=influence,
                            **{k: v.strip() for k, v in words.items()})
    return default_library(library).put(capsule)


def capsule_from_style(name: str, style: VisualStyle, library: CapsuleLibrary | None = None) -> VisualCapsule:
    """Save a project's written style (words, images, influence) as a new capsule for other projects."""
    return create_capsule(name, medium=style.medium, look=style.look, palette=style.palette,
                          lighting=style.lighting, era=style.era, references=style.references,
                          images=list(style.images), influence=style.influence, library=library)


def delete_capsule(capsule_id: str, library: CapsuleLibrary | None = None) -> None:
    """Remove a capsule. Projects that chose it keep their copy of its words and images."""
    default_library(library).delete(VisualCapsule, capsule_id)


# --- a project's style ----------------------------------------------------------------------------


def style_from_capsule(capsule: VisualCapsule, base: VisualStyle | None = None) -> VisualStyle:
    """The project style when `capsule` is chosen: its words, images and influence copied in.

    Per-scene overrides of `base` are kept.
    """
    overrides = dict(base.scene_overrides) if base else {}
    return VisualStyle(capsule_id=capsule.id, medium=capsule.medium, look=capsule.look, palette=capsule.palette,
                       lighting=capsule.lighting, era=capsule.era, references=capsule.references,
                       images=list(capsule.images), influence=capsule.influence, scene_overrides=overrides)


def written_style(base: VisualStyle, *, medium: str = "", look: str = "", palette: str = "", lighting: str = "",
                  era: str = "", references: str = "", images: list[str] | None = None,
                  influence: float | None = None) -> VisualStyle:
    """The project style from the structured form (no capsule); overrides of `base` are kept.

    Raises:
        InputError: a field is too long, there are too many images, or the influence is out of 0..1.
    """
    words = {"medium": medium, "look": look, "palette": palette, "lighting": lighting, "era": era,
             "references": references}
    for label, text in words.items():
        if len(text) > MAX_WORDS:
            raise InputError(f"The {label} is {len(text)} characters long; keep it under {MAX_WORDS}.")
    imgs = list(dict.fromkeys(base.images if images is None else images))
    if len(imgs) > MAX_IMAGES:
        raise InputError(f"A style holds at most {MAX_IMAGES} images; remove {len(imgs) - MAX_IMAGES}.")
    value = base.influence if influence is None else float(influence)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"The style influence is {value}; choose a value from 0 to 1.")
    return VisualStyle(capsule_id=None, images=imgs, influence=value, scene_overrides=dict(base.scene_overrides),
                       **{k: v.strip() for k, v in words.items()})


def set_scene_override(style: VisualStyle, scene_id: str, capsule_id: str | None,
                       library: CapsuleLibrary | None = None) -> VisualStyle:
    """Switch one scene to another capsule of the user's library (None: back to the film's style)."""
    overrides = dict(style.scene_overrides)
    if capsule_id:
        overrides[scene_id] = get_capsule(capsule_id, library).id  # the user's own, or NotFoundError
    else:
        overrides.pop(scene_id, None)
    return style.model_copy(update={"scene_overrides": overrides})


def style_for_scene(style: VisualStyle, scene_id: str | None, library: CapsuleLibrary | None = None) -> VisualStyle:
    """The style that applies in a scene: its override capsule when it has one, else the film's.

    A capsule deleted from the library since falls back to the film's style.
    """
    cap_id = style.scene_overrides.get(scene_id or "")
    if not cap_id:
        return style
    try:
        return style_from_capsule(get_capsule(cap_id, library), style)
    except NotFoundError:
        return style


def scene_style(bundle: StyleAndAssets | None, scene_id: str, library: CapsuleLibrary | None = None) -> StyleAndAssets | None:
    """The stage-5 bundle as one scene sees it: its style is `style_for_scene` (the scene's own
    capsule when it has one, else the film's). Every image made for a scene reads its style here."""
    if bundle is None:
        return None
    style = style_for_scene(bundle.style, scene_id, library)
    return bundle if style is bundle.style else bundle.model_copy(update={"style": style})


def style_words(style: VisualStyle) -> str:
    """The style as prompt words: 'medium, look, palette, lighting, era, in the manner of …'."""
    parts = [getattr(style, f).strip() for f in STYLE_FIELDS[:-1] if getattr(style, f).strip()]
    if style.references.strip():
        parts.append(f"in the manner of {style.references.strip()}")
    return ", ".join(parts)


__all__ = [
    "DEFAULT_INFLUENCE", "VisualCapsule", "capsule_from_style", "create_capsule", "delete_capsule", "get_capsule",
    "list_capsules", "scene_style", "set_scene_override", "style_for_scene", "style_from_capsule", "style_words", "written_style",
]
