"""Errors a person reads. Each names the thing, the value and the fix in one sentence."""

from __future__ import annotations


class AiuteurError(Exception):
    """Base of every error Aiuteur raises on purpose; its message is shown as is."""


class InputError(AiuteurError, ValueError):
    """Bad input from the user: a file, a field, an option."""


class LockError(AiuteurError):
    """A lock rule refused the action (lock order, or editing locked work)."""


class NeedsChoiceError(AiuteurError):
    """The action needs the user to choose between options (e.g. unlock here or in a branch)."""

    def __init__(self, message: str, options: list[str]) -> None:
        super().__init__(message)
        self.options = options


class ConflictError(AiuteurError):
    """Someone else saved this artifact since you opened it; your text is kept in `yours`."""

    def __init__(self, message: str, yours: object = None) -> None:
        super().__init__(message)
        self.yours = yours


class NotFoundError(AiuteurError, KeyError):
    """A project, branch, take or file that does not exist (or is not yours)."""

    def __str__(self) -> str:  # KeyError quotes its message; we don't want that
        return str(self.args[0]) if self.args else "not found"


class CancelledJob(AiuteurError):
    """A model job stopped before it ran or finished: its caller left or pressed Stop. Nothing was saved."""


class BusyError(AiuteurError):
    """The shared model is busy with enough of this user's jobs already; try again when one ends."""
