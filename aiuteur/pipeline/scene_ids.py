"""Keep scene identity across script edits, so per-scene work stays attached to its scene.

An edited or re-imported script gets fresh ids from the parser; this carries the old ids over
to the scenes that are recognisably the same (same number and heading, else same heading in
order, else same position with a similar heading). Unmatched scenes keep their new ids.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from aiuteur.domain import Script


def _norm(heading: str) -> str:
    return " ".join(heading.upper().split())


def keep_scene_ids(old: Script | None, new: Script) -> Script:
    """Return `new` with the ids of matching scenes of `old`."""
    if old is None or not old.scenes:
        return new
    free = {s.id: s for s in old.scenes}
    ids: list[str | None] = [None] * len(new.scenes)

    def take(i: int, old_id: str) -> None:
        ids[i] = old_id
        free.pop(old_id, None)

    # 1. same number and heading
    for i, s in enumerate(new.scenes):
        for o in list(free.values()):
            if o.number == s.number and _norm(o.heading) == _norm(s.heading):
                take(i, o.id)
                break
    # 2. same heading, in order
    for i, s in enumerate(new.scenes):
        if ids[i] is None:
            for o in list(free.values()):
                if _norm(o.heading) == _norm(s.heading):
                    take(i, o.id)
                    break
    # 3. same position, similar heading
    for i, s in enumerate(new.scenes):
        if ids[i] is None and i < len(old.scenes) and old.scenes[i].id in free:
            o = old.scenes[i]
            if SequenceMatcher(None, _norm(o.heading), _norm(s.heading)).ratio() >= 0.6:
                take(i, o.id)
    scenes = [s.model_copy(update={"id": ids[i]}) if ids[i] else s for i, s in enumerate(new.scenes)]
    return new.model_copy(update={"scenes": scenes})
