"""Persistence: TinyDB with atomic, locked, all-or-nothing writes; media by content hash."""

from aiuteur.store.store import Store, StoreError, Tx, check_id, open_store

__all__ = ["Store", "StoreError", "Tx", "check_id", "open_store"]
