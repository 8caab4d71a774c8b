"""`python -m serving.store upgrade`: migrate the inbox store named by TRIAGE_DATABASE_URL /
TRIAGE_STATE_DIR to the latest schema without starting the service (the service does it too, at
start-up). `python -m serving.store current` prints the schema revision."""

from __future__ import annotations

import sys

from serving.settings import SettingsError, get_settings
from serving.store import Store, StoreUnavailable, redact_url


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["upgrade"], ["current"]):
        print("usage: python -m serving.store upgrade|current", file=sys.stderr)
        return 2
    try:
        store = Store(get_settings().store_url)
        store.open()  # upgrade head
    except (SettingsError, StoreUnavailable) as error:
        print(f"serving.store: error: {error}", file=sys.stderr)
        return 2
    with store.transaction(write=False) as connection:
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    store.close()
    print(f"{redact_url(store.url)}: schema at revision {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
