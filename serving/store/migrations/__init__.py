"""Alembic migrations of the inbox store; `serving.store.Store.open` upgrades to head at start-up."""
