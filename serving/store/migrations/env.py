"""Alembic environment: runs on the connection `serving.store.migrate` hands over (no alembic.ini).

From a shell, for a database the service is not running on:
    python -m serving.store upgrade   (the database of TRIAGE_DATABASE_URL / TRIAGE_STATE_DIR)
"""

from alembic import context

from serving.store.tables import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
