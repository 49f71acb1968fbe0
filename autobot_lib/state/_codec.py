"""BotState <-> JSON: one document for the snapshot and one per open position, each versioned; a closed
trade (:class:`~autobot_lib.live.ledger.LiveTrade`) is one versioned document too.

Decimals travel as strings, timestamps as ISO 8601 in UTC, dates as ISO days; floats as JSON numbers
(Python writes the shortest repr, so they read back exactly). Adapters store the documents and turn a
:class:`PayloadError` into a ``StateCorrupt`` that names their key or table and the fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Any, Mapping

import pandas as pd

from autobot_lib.data.frame import to_utc
from autobot_lib.journal import JournalRecord
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.model import IntentKind, OrderIntent, Position, Side, TradingState
from autobot_lib.state.snapshot import BotState, OpenPosition, PendingOrder

VERSION = 1


class PayloadError(ValueError):
    """A stored document that cannot be read; ``part`` says which one ("state", "position ETHUSDT")."""

    def __init__(self, part: str, problem: str):
        super().__init__(f"{part}: {problem}")
        self.part, self.problem = part, problem


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _iso(ts: Any) -> str:
    return to_utc(ts).isoformat()


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _position_doc(held: OpenPosition) -> dict[str, Any]:
    p = held.position
    values = {f.name: getattr(p, f.name) for f in fields(Position)}
    values["side"] = p.side.value
    values["opened_at"] = _iso(p.opened_at)
    return {"version": VERSION, "position": values, "stop_order_id": held.stop_order_id,
            "client_order_ids": list(held.client_order_ids)}


def _pending_doc(order: PendingOrder) -> dict[str, Any]:
    i = order.intent
    intent = {"symbol": i.symbol, "kind": i.kind.value, "side": i.side.value, "qty": str(i.qty), "price": i.price,
              "stop_price": _decimal(i.stop_price), "take_profit": _decimal(i.take_profit),
              "reduce_only": i.reduce_only, "reason": i.reason}
    return {"client_order_id": order.client_order_id, "intent": intent, "created_at": _iso(order.created_at),
            "exchange_order_id": order.exchange_order_id}


def encode(state: BotState) -> tuple[str, dict[str, str]]:
    """(snapshot document, {symbol: position document})."""
    doc = {
        "version": VERSION,
        "trading_state": state.trading_state.value,
        "kill_reason": state.kill_reason,
        "peak_equity": state.peak_equity,
        "daily_anchor": state.daily_anchor,
        "anchor_day": None if state.anchor_day is None else state.anchor_day.isoformat(),
        "positions": sorted(state.positions),   # lets a reader check the position documents belong together
        "pending": [_pending_doc(o) for o in state.pending],
        "last_bar": {symbol: _iso(ts) for symbol, ts in state.last_bar.items()},
        "indicators": dict(state.indicators),
    }
    return _dumps(doc), {symbol: _dumps(_position_doc(held)) for symbol, held in state.positions.items()}


def _parse(part: str, text: str | bytes | None) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise PayloadError(part, f"not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PayloadError(part, f"expected a JSON object, found {type(doc).__name__}")
    version = doc.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise PayloadError(part, f"format version {version!r}, this autobot reads version {VERSION}"
                                 + ("; it was written by a newer autobot: upgrade this one" if newer else ""))
    return doc


def _position(doc: dict[str, Any]) -> OpenPosition:
    values = dict(doc["position"])
    values["side"] = Side(values["side"])
    values["opened_at"] = to_utc(values["opened_at"])
    return OpenPosition(Position(**values), doc.get("stop_order_id"), tuple(doc.get("client_order_ids", ())))


def _optional_decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _pending(doc: dict[str, Any]) -> PendingOrder:
    i = doc["intent"]
    intent = OrderIntent(i["symbol"], IntentKind(i["kind"]), Side(i["side"]), Decimal(i["qty"]), i["price"],
                         _optional_decimal(i.get("stop_price")), _optional_decimal(i.get("take_profit")),
                         i.get("reduce_only", False), i.get("reason", ""))
    return PendingOrder(doc["client_order_id"], intent, to_utc(doc["created_at"]), doc.get("exchange_order_id"))


def _build(part: str, make, *args):
    """Run a constructor over parsed JSON; a missing key or a bad value names the document."""
    try:
        return make(*args)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise PayloadError(part, what) from None


def decode(state_text: str | bytes, position_texts: Mapping[str, str | bytes]) -> BotState:
    """The snapshot from its documents; raises :class:`PayloadError` naming the document at fault."""
    doc = _parse("state", state_text)
    expected = _build("state", lambda: list(doc["positions"]))
    if sorted(position_texts) != sorted(expected):
        raise PayloadError("positions", f"the snapshot lists {sorted(expected)} but the stored positions are "
                                        f"{sorted(position_texts)}")
    positions = {symbol: _build(f"position {symbol}", _position, _parse(f"position {symbol}", text))
                 for symbol, text in position_texts.items()}
    return _build("state", lambda: BotState(
        trading_state=TradingState(doc["trading_state"]),
        kill_reason=doc["kill_reason"],
        peak_equity=doc["peak_equity"],
        daily_anchor=doc["daily_anchor"],
        anchor_day=None if doc["anchor_day"] is None else date.fromisoformat(doc["anchor_day"]),
        positions=positions,
        pending=tuple(_pending(o) for o in doc["pending"]),
        last_bar={symbol: to_utc(ts) for symbol, ts in doc["last_bar"].items()},
        indicators=doc["indicators"],
    ))


def encode_record(record: JournalRecord) -> str:
    return record.to_json()


def decode_record(part: str, text: str | bytes) -> JournalRecord:
    try:
        values = json.loads(text)
        return JournalRecord(**values)
    except (TypeError, ValueError) as exc:
        raise PayloadError(part, f"not a journal record ({exc})") from None


def record_time(record: JournalRecord) -> pd.Timestamp:
    return to_utc(record.timestamp)


# a trade's float fields (NaN travels as null) and its times (ISO 8601)
_TRADE_FLOATS = tuple(f.name for f in fields(LiveTrade) if f.type == "float")
_TRADE_TIMES = ("entry_time", "exit_time")


def encode_trade(trade: LiveTrade) -> str:
    return _dumps({"version": VERSION, "trade": trade.to_dict()})


def _trade(values: dict[str, Any]) -> LiveTrade:
    values = dict(values)
    for name in _TRADE_TIMES:
        values[name] = to_utc(values[name])
    for name in _TRADE_FLOATS:
        values[name] = math.nan if values[name] is None else float(values[name])
    return LiveTrade(**values)


def decode_trade(part: str, text: str | bytes) -> LiveTrade:
    """A closed trade from its document; raises :class:`PayloadError` naming ``part``."""
    doc = _parse(part, text)
    return _build(part, lambda: _trade(doc["trade"]))


def trade_time(trade: LiveTrade) -> pd.Timestamp:
    """When the trade closed: the key trades are kept and read by."""
    return to_utc(trade.exit_time)
