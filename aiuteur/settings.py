"""Where Aiuteur keeps its data, decided once from the environment.

`AIUTEUR_HOME` wins. On a Hugging Face Space, `/data` is used when persistent storage is
attached; without it the data lives in the container and is lost on restart, and
`storage_warning()` says so. Otherwise a per-user folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataHome:
    path: Path
    why: str
    warning: str = ""

    @property
    def projects(self) -> Path:
        return self.path / "projects"

    @property
    def media(self) -> Path:
        return self.path / "media"

    @property
    def models(self) -> Path:
        """Model weights: `AIUTEUR_MODELS` if set (tests share one across data folders)."""
        override = os.environ.get("AIUTEUR_MODELS")
        return Path(override).expanduser().resolve() if override else self.path / "models"

    @property
    def capsules(self) -> Path:
        return self.path / "capsules"


def _on_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def _writable_dir(p: Path) -> bool:
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def resolve_data_home(env: dict[str, str] | None = None) -> DataHome:
    """Pick the data folder from `env` (default: the process environment)."""
    env = dict(os.environ) if env is None else env
    if env.get("AIUTEUR_HOME"):
        return DataHome(Path(env["AIUTEUR_HOME"]).expanduser().resolve(), "AIUTEUR_HOME is set")
    if env.get("SPACE_ID"):
        data = Path(env.get("AIUTEUR_SPACE_DATA", "/data"))
        if _writable_dir(data):
            return DataHome(data / "aiuteur", "persistent storage of the Hugging Face Space")
        fallback = Path(env.get("HOME", "/tmp")) / ".aiuteur"
        return DataHome(
            fallback,
            "Hugging Face Space without persistent storage",
            warning=(
                "This Space has no persistent storage: projects are lost when it restarts. "
                "Attach persistent storage in the Space settings, or export a project bundle."
            ),
        )
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "share")
    return DataHome(Path(base) / "aiuteur", "per-user data folder (set AIUTEUR_HOME to change it)")


def data_home() -> DataHome:
    """The data folder for this process (read from the environment on each call)."""
    return resolve_data_home()


REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES_DIR = REPO_ROOT / "models"
PROMPTS_DIR = REPO_ROOT / "prompts"
