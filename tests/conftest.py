"""Shared fixtures: every test gets its own data folder; nothing touches the network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("AIUTEUR_PROFILE", "tiny")

from aiuteur.pipeline.runner import Runner
from aiuteur.settings import DataHome
from aiuteur.store import Store
from tests.fakes import FakeEngines


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataHome:
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "home"))
    return DataHome(tmp_path / "home", "test")


@pytest.fixture
def store(home: DataHome) -> Store:
    return Store(home)


@pytest.fixture
def engines() -> FakeEngines:
    return FakeEngines()


@pytest.fixture
def runner(store: Store, engines: FakeEngines) -> Iterator[Runner]:
    yield Runner(store, engines=engines)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser walkthrough runs first. Open bug (issue 16, 1 Dec 2026): after the other browser
    tests have run in the same process, its first screenplay upload is never answered ("Loaded …"
    does not appear within 4 × 60 s); alone, or first, it passes. Something those tests leave behind
    in the process (not traced) is the cause; until it is found, the walkthrough is not run after it."""
    first = [i for i in items if i.nodeid.startswith("tests/browser/test_walkthrough.py")]
    if first:
        items[:] = first + [i for i in items if i not in first]
