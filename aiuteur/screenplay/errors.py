"""The one error type the screenplay importers and exporters raise."""

from __future__ import annotations

from aiuteur.domain.errors import InputError


class ScreenplayError(InputError):
    """A screenplay file could not be read; the message names the file, the problem and the fix."""
