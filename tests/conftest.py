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

