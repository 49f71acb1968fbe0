"""The state store: what a restart needs, kept atomically, behind a port with two adapters.

- :class:`BotState` (``snapshot``): trading state and kill reason, equity peak, daily anchor and its UTC
  day, open positions with their stop order ids and client order ids, pending order intents, the last
  processed bar and streaming-indicator state per symbol. Serialised as versioned JSON.
- :class:`StateStore` (``port``): ``load``, ``save`` (one transaction), ``append_journal`` /
  ``read_journal``, ``append_trades`` / ``read_trades`` (closed trades, each kept once), ``mark_processed`` /
  ``processed`` (idempotency), ``healthy``, ``close``; the errors
  ``StateUnavailable`` (keep trading in memory and alert), ``StateAccessDenied``, ``StateCorrupt``.
- :class:`RedisStore` (keys ``autobot:state``, ``autobot:positions``, ``autobot:signals``, as the AUTOBOT
  seed names them) and :class:`SQLiteStore` (the embedded default).
- :func:`open_store` picks one from the settings (``STATE_STORE``: auto | redis | sqlite).

>>> import tempfile, pathlib
>>> store = SQLiteStore(pathlib.Path(tempfile.mkdtemp()) / "state.sqlite3")
>>> store.save(BotState(peak_equity=10_000.0, daily_anchor=9_800.0))
>>> store.load().daily_anchor
9800.0
>>> store.close()
"""

from autobot_lib.state.port import StateAccessDenied, StateCorrupt, StateError, StateStore, StateUnavailable
from autobot_lib.state.redis_store import RedisStore
from autobot_lib.state.selection import open_store
from autobot_lib.state.snapshot import BotState, OpenPosition, PendingOrder
from autobot_lib.state.sqlite_store import SQLiteStore

__all__ = ["BotState", "OpenPosition", "PendingOrder", "RedisStore", "SQLiteStore", "StateAccessDenied",
           "StateCorrupt", "StateError", "StateStore", "StateUnavailable", "open_store"]
