"""Aiuteur: turn a written story into a short AI film, stage by reviewed stage."""

__version__ = "0.1.0"
