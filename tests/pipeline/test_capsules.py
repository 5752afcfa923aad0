"""Written style capsules: a shared library of JSON files with generated ids."""

from __future__ import annotations

import pytest

from aiuteur.domain import InputError, NotFoundError
from aiuteur.pipeline import capsules
from aiuteur.settings import DataHome
from aiuteur.store.capsules import CapsuleLibrary


def test_capsules_are_created_listed_updated_and_deleted(home: DataHome) -> None:
    a = capsules.create_capsule("Noir", example_prose="Rain fell like a debt.", library=CapsuleLibrary(home))
    b = capsules.create_capsule("../../etc/passwd", example_dialogue="Hi.", library=CapsuleLibrary(home))
    assert (home.capsules / "written" / f"{b.id}.json").is_file()  # the name never becomes a path
    assert [c.name for c in capsules.list_capsules(CapsuleLibrary(home))] == ["../../etc/passwd", "Noir"]
    updated = capsules.update_capsule(a.id, example_dialogue="You owe me, kid.", library=CapsuleLibrary(home))
    assert updated.example_prose == "Rain fell like a debt." and updated.example_dialogue == "You owe me, kid."
    assert capsules.get_capsule(a.id, CapsuleLibrary(home)) == updated
    capsules.delete_capsule(a.id, CapsuleLibrary(home))
    with pytest.raises(NotFoundError):
        capsules.get_capsule(a.id, CapsuleLibrary(home))


def test_bad_capsules_are_refused_in_plain_words(home: DataHome) -> None:
    with pytest.raises(InputError, match="needs a name"):
        capsules.create_capsule("  ", example_prose="x", library=CapsuleLibrary(home))
    with pytest.raises(InputError, match="example prose or example dialogue"):
        capsules.create_capsule("Empty", library=CapsuleLibrary(home))
    with pytest.raises(NotFoundError):
        capsules.get_capsule("../secrets", CapsuleLibrary(home))
