"""The live trade log: every closed live or dry-run trade kept twice, in the state store and in a CSV.

Both keepers are the live engine's trade listeners (``LiveEngine.trade_listeners``): each closed
:class:`~autobot_lib.live.ledger.LiveTrade` is handed to each of them once, and one that fails (a full
disk, a store that is down) becomes an alert without stopping the bar or the other keeper.

- :class:`StoreTrades` appends the trade to the state store (``StateStore.append_trades``). A trade the
  store refused is tried again with the next one (appending is idempotent), so an outage loses nothing
  that closes after it.
- :class:`TradeCsv` appends it to one growing CSV with the backtester's columns (:data:`TRADE_COLUMNS`,
  in that order, as ``backtest_trades.csv`` has them), across sessions and restarts. Each append
  rewrites the file atomically (temporary file, fsync, rename), so a reader or a crash never sees half
  a row. A file whose header is not the trade log's is never appended to.

Where the CSV goes (:func:`trade_log_path`): ``live_trades_<mode>.csv`` (``dry-run``, ``testnet`` or
``live``, so simulated fills never mix with real ones) in the Donchian config's ``data_dir`` when the
Donchian strategy trades, else in the folder of ``STATE_DB_PATH`` (the bot's own files; ``data`` by
default for both). :func:`read_trade_log` reads it back, or any backtest trade log, as a frame, and
:func:`kept_trades` gives the store's trades as the same frame.

>>> import tempfile, pathlib, pandas as pd
>>> from autobot_lib.live.ledger import LiveTrade
>>> log = TradeCsv(pathlib.Path(tempfile.mkdtemp()) / "live_trades_dry-run.csv")
>>> t = pd.Timestamp("2025-06-01 09:00", tz="UTC")
>>> log.append(LiveTrade("BTCUSDT", "LONG", t, 100.0, 95.0, t, 110.0, 1.0, 100.0, 0.1, 0.0, 9.9, 1.98,
...                      0.0, 2.0, 3, "take_profit", "STRONG_UPTREND", "BULL_TREND"))
>>> read_trade_log(log.path)[["symbol", "pnl", "exit_reason"]].values.tolist()
[['BTCUSDT', 9.9, 'take_profit']]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autobot_lib._fs import write_text_atomic
from autobot_lib.config import Settings
from autobot_lib.live.ledger import LiveTrade, trade_frame
from autobot_lib.model import TRADE_COLUMNS

_TIMES = ("entry_time", "exit_time")
_TEXT = ("symbol", "side", "exit_reason", "entry_rules", "entry_regime")
_HEADER = ",".join(TRADE_COLUMNS) + "\n"


class TradeLogError(ValueError):
    """A file that is not a trade log; the message names it, what it holds and what to do."""


def trade_log_path(settings: Settings, mode: str) -> Path:
    """The CSV the live bot of ``settings`` in ``mode`` keeps its closed trades in."""
    folder = settings.donchian.data_dir if settings.STRATEGY == "donchian" else Path(settings.STATE_DB_PATH).parent
    return Path(folder) / f"live_trades_{mode}.csv"


class TradeCsv:
    """One growing CSV of closed trades; ``append`` is a trade listener."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TradeCsv({str(self.path)!r})"

    def append(self, trade: LiveTrade) -> None:
        kept = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        if kept and kept.split("\n", 1)[0].strip() != _HEADER.strip():
            raise TradeLogError(f"{self.path} is not a trade log (its header is not {', '.join(TRADE_COLUMNS)}): "
                                "nothing was appended; move it aside and the next trade starts a new one")
        if kept and not kept.endswith("\n"):
            kept += "\n"
        row = trade_frame([trade]).to_csv(index=False, header=False)
        write_text_atomic(self.path, (kept or _HEADER) + row)


class StoreTrades:
    """Closed trades into a state store; ``append`` is a trade listener. What a failed write left behind goes
    with the next trade (the store keeps each trade once)."""

    def __init__(self, store):
        self.store = store
        self.unsaved: list[LiveTrade] = []

    def append(self, trade: LiveTrade) -> None:
        self.unsaved.append(trade)
        self.store.append_trades(self.unsaved)     # raises: the engine alerts, the trades wait for the next one
        self.unsaved.clear()


def trade_keepers(store=None, csv_path: str | Path | None = None) -> list:
    """The trade listeners for a session: the store's and the CSV's, for those given."""
    keepers = [StoreTrades(store).append] if store is not None else []
    return keepers + ([TradeCsv(csv_path).append] if csv_path is not None else [])


def read_trade_log(path: str | Path) -> pd.DataFrame:
    """A trade log CSV (live or backtest) as a frame with :data:`TRADE_COLUMNS`, times in UTC."""
    path = Path(path)
    if not path.exists():
        raise TradeLogError(f"no trade log at {path}: the live bot writes live_trades_<mode>.csv in its data "
                            "folder (donchian.data_dir, or the folder of STATE_DB_PATH); check the path")
    frame = pd.read_csv(path, dtype={c: "object" for c in _TEXT})
    if list(frame.columns) != TRADE_COLUMNS:
        missing = [c for c in TRADE_COLUMNS if c not in frame.columns]
        raise TradeLogError(f"{path} is not a trade log: columns {list(frame.columns)}"
                            + (f", missing {missing}" if missing else "") + f"; a trade log has {TRADE_COLUMNS}")
    return _typed(frame)


def kept_trades(store) -> pd.DataFrame:
    """Every trade ``store`` keeps, as a trade log frame (the CSV's columns and types)."""
    return _typed(trade_frame(store.read_trades()))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in _TIMES:       # UTC times even when the log is empty, so a day's trades can be picked out
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame
