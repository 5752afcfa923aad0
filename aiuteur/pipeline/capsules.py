"""Written style capsules: a named voice (example prose and example dialogue) in a user's library.

A capsule shapes script and dialogue writing only (stage 4), never treatments or images (DESIGN
idea 9). The library lives in the store (`store.capsules`): one JSON file a capsule under the
store's home, owned by one user; these functions check what a person typed and keep it there.

Example:
    lib = runner.capsules
    cap = create_capsule("Hard-boiled", example_prose="Rain. Neon.", example_dialogue="You lied.", library=lib)
    story = story.model_copy(update={"written_style_capsule": cap.id})
"""

from __future__ import annotations

from aiuteur.domain import InputError, now_iso
from aiuteur.domain.capsules import MAX_EXAMPLE, WrittenCapsule
from aiuteur.settings import data_home
from aiuteur.store.capsules import CapsuleLibrary


def default_library(library: CapsuleLibrary | None) -> CapsuleLibrary:
    """`library`, or the single-user library of the default data folder."""
    return library if library is not None else CapsuleLibrary(data_home())


def _check(name: str, example_prose: str, example_dialogue: str) -> None:
    if not name.strip():
        raise InputError("A written style capsule needs a name; type one in.")
    if len(name) > 120:
        raise InputError(f"The capsule name is {len(name)} characters long; keep it under 120.")
    for label, text in (("example prose", example_prose), ("example dialogue", example_dialogue)):
        if len(text) > MAX_EXAMPLE:
            raise InputError(f"The {label} is {len(text)} characters long; keep it under {MAX_EXAMPLE}.")
    if not (example_prose.strip() or example_dialogue.strip()):
        raise InputError("A written style capsule needs some example prose or example dialogue to imitate.")


def list_capsules(library: CapsuleLibrary | None = None) -> list[WrittenCapsule]:
    """The user's written capsules, by name."""
    return default_library(library).list(WrittenCapsule)


def get_capsule(capsule_id: str, library: CapsuleLibrary | None = None) -> WrittenCapsule:
    """One of the user's capsules by id. Raises NotFoundError when there is none."""
    return default_library(library).get(WrittenCapsule, capsule_id)


def create_capsule(name: str, example_prose: str = "", example_dialogue: str = "",
                   library: CapsuleLibrary | None = None) -> WrittenCapsule:
    """Save a new capsule in the user's library and return it (with its generated id)."""
    _check(name, example_prose, example_dialogue)
    return default_library(library).put(
        WrittenCapsule(name=name.strip(), example_prose=example_prose, example_dialogue=example_dialogue))


def update_capsule(capsule_id: str, *, name: str | None = None, example_prose: str | None = None,
                   example_dialogue: str | None = None, library: CapsuleLibrary | None = None,
                   base_revision: int | None = None) -> WrittenCapsule:
    """Change a capsule's name or examples; fields left as None stay as they are.

    `base_revision` is the capsule's revision the user saw: changed since, nothing is saved."""
    lib = default_library(library)
    old = lib.get(WrittenCapsule, capsule_id)
    new_name = old.name if name is None else name.strip()
    prose = old.example_prose if example_prose is None else example_prose
    dialogue = old.example_dialogue if example_dialogue is None else example_dialogue
    _check(new_name, prose, dialogue)
    return lib.put(old.model_copy(update={"name": new_name, "example_prose": prose, "example_dialogue": dialogue,
                                          "updated_at": now_iso()}), base_revision)


def delete_capsule(capsule_id: str, library: CapsuleLibrary | None = None, base_revision: int | None = None) -> None:
    """Remove a capsule. Projects that named it simply write without a capsule afterwards.

    `base_revision` is the capsule's revision the user saw: changed since, nothing is deleted."""
    default_library(library).delete(WrittenCapsule, capsule_id, base_revision)


__all__ = ["WrittenCapsule", "create_capsule", "default_library", "delete_capsule", "get_capsule",
           "list_capsules", "update_capsule"]
