"""Which store the bot uses: :func:`open_store` reads ``STATE_STORE`` from the settings.

- ``sqlite``: the embedded file ``STATE_DB_PATH`` (default ``data/state.sqlite3``).
- ``redis``: Redis at ``REDIS_HOST:REDIS_PORT`` db ``REDIS_DB`` with ``REDIS_PASSWORD``. It must answer
  a PING now, else ``StateUnavailable``: a service configured for Redis never falls back silently, since
  a different store would start from a different (empty or stale) snapshot.
- ``auto`` (default): Redis when it answers a PING now, else the SQLite file. A Redis that answers but
  refuses the password is a configuration error and raises ``StateAccessDenied`` (no fallback). Because a
  Redis that is slow to start would send ``auto`` to SQLite, a service should set ``STATE_STORE=redis``.
"""

from __future__ import annotations

import logging

from autobot_lib.config import Settings
from autobot_lib.state.port import StateAccessDenied, StateStore, StateUnavailable
from autobot_lib.state.redis_store import RedisStore
from autobot_lib.state.sqlite_store import SQLiteStore

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> StateStore:
    """The state store the settings ask for (rule in the module docstring)."""
    if settings.STATE_STORE == "sqlite":
        return _chosen(SQLiteStore(settings.STATE_DB_PATH), "STATE_STORE=sqlite")
    store = RedisStore(settings.REDIS_HOST, settings.REDIS_PORT, settings.REDIS_DB, settings.REDIS_PASSWORD)
    try:
        store.ping()
    except StateAccessDenied:
        store.close()
        raise
    except StateUnavailable:
        store.close()
        if settings.STATE_STORE == "redis":
            raise
        return _chosen(SQLiteStore(settings.STATE_DB_PATH), f"STATE_STORE=auto and no Redis at {store.address}")
    return _chosen(store, f"STATE_STORE={settings.STATE_STORE}")


def _chosen(store: StateStore, why: str) -> StateStore:
    log.info("state store: %r (%s)", store, why)
    return store
