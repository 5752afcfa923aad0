"""Persistence: TinyDB with atomic, locked, all-or-nothing writes; media by content hash."""

from aiuteur.store.store import Store, open_store
from aiuteur.store.tx import StoreError, Tx, check_id

__all__ = ["Store", "StoreError", "Tx", "check_id", "open_store"]
