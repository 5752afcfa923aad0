"""On a shared instance each user sees only their own projects, folders and media."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aiuteur.domain import ArtifactRecord, InputError, NotFoundError, Stage, StoryInput
from aiuteur.pipeline.runner import Runner
from aiuteur.store import Store
from aiuteur.ui.auth import GUEST_COOKIE, auth_from_env, sign_guest, user_of, verify_guest


def test_a_user_never_sees_or_touches_another_users_project(store: Store) -> None:
    alice, bob = Runner(store, owner="hf:alice"), Runner(store, owner="hf:bob")
    pid = alice.create_project("Alice's film").id
    key = store.put_media(b"alice frame", "png")
    with store.transaction(pid) as tx:
        tx.put_record(ArtifactRecord(branch=tx.project.active_branch, stage=Stage.INPUT, data={"img": key}))
        tx.commit()
    assert [c.id for c in alice.list_projects()] == [pid]
    assert bob.list_projects() == []
    for action in (
        lambda: bob.view(pid),
        lambda: bob.open(pid),
        lambda: bob.save(pid, Stage.INPUT, StoryInput()),
        lambda: bob.lock(pid, Stage.INPUT),
        lambda: bob.rename_project(pid, "mine now"),
        lambda: bob.duplicate_project(pid, "copy"),
        lambda: bob.delete_project(pid),
        lambda: bob.move_project(pid, None),
        lambda: bob.summary(pid),
        lambda: bob.media_path(key),
    ):
        with pytest.raises(NotFoundError):
            action()
    assert alice.view(pid).project.title == "Alice's film"
    assert alice.media_path(key).read_bytes() == b"alice frame"
    # the single-user runner of a local install does not see hosted users' projects either
    assert Runner(store).list_projects() == []


def test_folders_are_per_user(store: Store) -> None:
    alice, bob = Runner(store, owner="user:alice"), Runner(store, owner="user:bob")
    f = alice.create_folder("Shorts")
    pid = alice.create_project("A").id
    alice.move_project(pid, f.id)
    assert bob.folders() == []
    with pytest.raises(NotFoundError):
        bob.rename_folder(f.id, "stolen")
    with pytest.raises(NotFoundError):
        bob.delete_folder(f.id)
    bob_pid = bob.create_project("B").id
    with pytest.raises(NotFoundError):
        bob.move_project(bob_pid, f.id)


def test_user_identity_from_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIUTEUR_AUTH", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert user_of(None) == ""
    assert user_of(SimpleNamespace(username=None, session_hash="s1")) == ""  # local, single user
    assert user_of(SimpleNamespace(username="alice", session_hash="s1")) == "user:alice"
    oauth = SimpleNamespace(username=None, session_hash="s1",
                            session={"oauth_info": {"userinfo": {"preferred_username": "bob"}}})
    assert user_of(oauth) == "hf:bob"
    monkeypatch.setenv("SPACE_ID", "someone/aiuteur")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "x")
    secret = b"k" * 32
    cookie = sign_guest(secret, "0123456789abcdef01234567")
    guest = SimpleNamespace(username=None, session_hash="s9", cookies={GUEST_COOKIE: cookie})
    assert user_of(guest, secret) == "guest:0123456789abcdef01234567"
    # the page's session_hash is the client's choice: never an identity; a forged cookie neither
    with pytest.raises(InputError, match="could not tell who you are"):
        user_of(SimpleNamespace(username=None, session_hash="s9"), secret)
    forged = SimpleNamespace(username=None, session_hash="s9", cookies={GUEST_COOKIE: sign_guest(b"x" * 32, "0" * 24)})
    with pytest.raises(InputError):
        user_of(forged, secret)
    assert verify_guest(secret, cookie + "\n") is None
    assert user_of(oauth, secret) == "hf:bob"
    expired = SimpleNamespace(username=None, session={"oauth_info": {"expires_at": 1, "userinfo": {
        "preferred_username": "bob"}}}, cookies={GUEST_COOKIE: cookie})
    assert user_of(expired, secret) == "guest:0123456789abcdef01234567"


def test_password_setting_is_parsed_or_refused_plainly() -> None:
    assert auth_from_env({}) is None
    assert auth_from_env({"AIUTEUR_AUTH": "secret"}) == [("aiuteur", "secret")]
    assert auth_from_env({"AIUTEUR_AUTH": "alice:a1, bob:b2"}) == [("alice", "a1"), ("bob", "b2")]
    with pytest.raises(InputError, match="AIUTEUR_AUTH"):
        auth_from_env({"AIUTEUR_AUTH": "alice:"})
