"""The Donchian/ATR bot's API (its README's strategy.py and risk.py), on the shared pipeline pieces.

``DonchianATREngine.detect_signal`` uses :class:`~autobot_lib.strategy.DonchianStrategy` (the same
evaluation the pipeline runs), and ``RiskManager`` sizes with :func:`~autobot_lib.risk.size_position`
and trails with :func:`~autobot_lib.risk.trail_stop_price`: one implementation, two front doors.
Outputs are plain dicts of floats and strings: deterministic and serialisable, so they can be stored
in a golden baseline.

Pure: no file is written and no clock is read. ``persist_state`` is kept for compatibility: the state
lives in ``engine.state`` (a dict), and saving it is the caller's (the live engine's state store);
whatever needs "today" takes ``now``.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from autobot_lib.indicators import ATR, DONCHIAN
from autobot_lib.model import Bar, MarketFilters, Position, Side
from autobot_lib.risk.exits import manage_position
from autobot_lib.risk.exits import trail_stop_price as _trail
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.sizing import size_position
from autobot_lib.strategy import DonchianStrategy

_EPOCH = pd.Timestamp(0, tz="UTC")
_SIDES = {"long": Side.LONG, "short": Side.SHORT, "buy": Side.LONG, "sell": Side.SHORT}


def _side(side: str | Side) -> Side:
    if isinstance(side, Side):
        return side
    try:
        return _SIDES[str(side).lower()]
    except KeyError:
        raise ValueError(f"side must be 'long' or 'short', got {side!r}") from None


def donchian_params(**overrides: Any) -> RiskParams:
    """The Donchian bot's documented defaults as RiskParams (risk_pct 0.025, atr_stop_k 1.2, ...): the
    settings' defaults compiled, as the bot's plan is (imported here, so the core loads no settings)."""
    from autobot_lib.config import load_settings
    from autobot_lib.plan import risk_params

    return risk_params(load_settings(env_file=None, config_json=None, STRATEGY="donchian", **overrides))


class RiskManager:
    """Daily anchor and loss limit, ATR sizing, trailing stops, break-even and pyramiding per symbol."""

    def __init__(self, state: dict | None = None, params: RiskParams | None = None,
                 filters: MarketFilters | None = None):
        self.params = params or donchian_params()
        self.filters = filters or MarketFilters()
        self.state: dict[str, Any] = copy.deepcopy(state) if state else {"daily_anchor": None, "anchor_day": None,
                                                                          "symbols": {}}
        self.state.setdefault("symbols", {})

    # --- sizing ----------------------------------------------------------------------------------
    def calc_qty_by_risk(self, equity_usdt: float, price: float, atr_abs: float, leverage: int,
                         symbol: str = "") -> float:
        return self.calc_qty_by_risk_adjusted(equity_usdt, price, atr_abs, leverage, symbol)

    def calc_qty_by_risk_adjusted(self, equity_usdt: float, price: float, atr_abs: float, leverage: int,
                                  symbol: str = "", risk_pct: float | None = None) -> float:
        """Quantity risking ``risk_pct`` (default: the configured one) of equity over the ATR stop,
        capped and rounded; 0.0 when it rounds below the market's minimums."""
        params = self.params
        overrides = {"leverage": int(leverage)}
        if risk_pct is not None:
            overrides["risk_per_trade"] = float(risk_pct)
        size = size_position(equity_usdt, price, atr_abs, replace(params, **overrides), self.filters)
        return float(size.qty) if size.ok else 0.0

    # --- stops -----------------------------------------------------------------------------------
    def trail_stop_price(self, side: str, entry_price: float, last_price: float, atr_abs: float,
                         be_promoted: bool) -> float:
        return _trail(_side(side), entry_price, last_price, atr_abs, be_promoted, self.params.trail_atr_k)

    def update_symbol_state_on_entry(self, symbol: str, side: str, entry_px: float, qty: float = 0,
                                     atr_abs: float | None = None) -> dict:
        s = _side(side)
        entry = {"side": s.value.lower(), "entry_px": float(entry_px), "qty": float(qty), "initial_qty": float(qty),
                 "atr_at_entry": None if atr_abs is None else float(atr_abs), "be_promoted": False,
                 "pyramid_level": 0, "stop": None}
        if atr_abs is not None:
            entry["stop"] = float(entry_px) - s.sign * self.params.stop_atr_k * float(atr_abs)
        self.state["symbols"][symbol] = entry
        return dict(entry)

    def update_after_move(self, symbol: str, atr_abs: float, last_price: float) -> dict | None:
        """After a price move: break-even promotion, the trailing stop (only ever tighter) and pyramid adds,
        by the pipeline's own position step (:func:`autobot_lib.risk.manage_position`) on a one-price bar.
        Returns what changed, or None when nothing did (a price through the stop is the broker's exit)."""
        st = self.state["symbols"].get(symbol)
        if st is None:
            return None
        side = _side(st["side"])
        atr0 = st["atr_at_entry"] or atr_abs
        stop = st["stop"] if st["stop"] is not None else -side.sign * np.inf
        # one unit stands for the position (its size may be unknown here); adds scale by the real size
        position = Position(symbol, side, 1.0, st["entry_px"], stop, None, self.params.stop_atr_k * atr0, atr0,
                            _EPOCH, 1.0, be_promoted=st["be_promoted"], pyramid_steps=st["pyramid_level"])
        step = manage_position(position, Bar(_EPOCH, last_price, last_price, last_price, last_price), atr_abs, None,
                               self._hold_params)
        if step.position is None:
            return None
        new = step.position
        changes: dict[str, Any] = {}
        if new.be_promoted and not st["be_promoted"]:
            st["be_promoted"] = changes["be_promoted"] = True
        if new.stop != stop:
            st["stop"] = changes["stop"] = new.stop
        if step.adds:
            add = sum(a.qty for a in step.adds) * (st["initial_qty"] or 0.0)
            st["pyramid_level"] = new.pyramid_steps
            st["qty"] += add
            changes.update(add_qty=add, pyramid_level=new.pyramid_steps, stop=st["stop"])
        return changes or None

    @property
    def _hold_params(self) -> RiskParams:
        """The pipeline's parameters with only the moves this API reports: no targets or market exits."""
        return replace(self.params, take_profit_r=None, tp_ladder=(), exit_on_regime_change=False,
                       max_holding_bars=0, exit_channel=0)

    # --- daily risk ------------------------------------------------------------------------------
    def reset_daily_anchor(self, equity: float, now: pd.Timestamp | None = None) -> bool:
        """Set the anchor to ``equity`` when none is set, or when ``now`` is on a later UTC day.
        Returns whether it was reset."""
        day = None if now is None else str(pd.Timestamp(now).tz_convert("UTC").date()
                                           if pd.Timestamp(now).tzinfo else pd.Timestamp(now).date())
        if self.state["daily_anchor"] is None or (day is not None and day != self.state["anchor_day"]):
            self.state["daily_anchor"], self.state["anchor_day"] = float(equity), day
            return True
        return False

    def hit_daily_loss_limit(self, equity: float) -> bool:
        anchor = self.state["daily_anchor"]
        return bool(anchor) and (anchor - equity) / anchor >= self.params.daily_loss_limit


class DonchianATREngine:
    """Deterministic Donchian breakout signals and entry plans (the seed's strategy.py API)."""

    def __init__(self, persist_state: bool = True, initial_state: dict | None = None,
                 risk_manager: RiskManager | None = None, channel_len: int = 20, atr_len: int = 14):
        self.persist_state = persist_state
        self.risk = risk_manager or RiskManager(initial_state)
        self.strategy = DonchianStrategy(channel_len)
        self.channel, self.atr = DONCHIAN(channel_len), ATR(atr_len)

    @property
    def state(self) -> dict:
        return self.risk.state

    def reset_daily_anchor(self, equity: float, now: pd.Timestamp | None = None) -> None:
        self.risk.reset_daily_anchor(equity, now)

    def detect_signal(self, df: pd.DataFrame) -> dict:
        """The last bar's signal: ``{"signal": "long" | "short" | None, ...}`` with the channel and ATR."""
        if len(df) < self.strategy.channel_len + 1:
            return {"signal": None, "reason": f"need at least {self.strategy.channel_len + 1} bars, got {len(df)}"}
        features = pd.concat([df[["open", "high", "low", "close", "volume"]], self.channel.batch(df),
                              self.atr.batch(df)], axis=1)
        evaluation = self.strategy.evaluate(features.iloc[-1:])
        last = features.iloc[-1]
        direction = int(evaluation.direction[-1])
        return {"signal": {1: "long", -1: "short"}.get(direction), "timestamp": str(df.index[-1]),
                "close": float(last["close"]), "upper": float(last[self.strategy.upper]),
                "lower": float(last[self.strategy.lower]), "atr": _float(last["atr"]),
                "reason": {1: "close above upper channel", -1: "close below lower channel"}.get(direction, "inside channel")}

    def make_entry_plan(self, symbol: str, df: pd.DataFrame, equity: float, price: float, atr_abs: float,
                        is_new_bar: bool, can_reenter: bool, funding_avoid: bool, daily_loss_hit: bool) -> dict:
        """Whether and how to enter on this bar: ``{"action": "enter" | "skip", "reason": ..., ...}``."""
        signal = self.detect_signal(df)
        plan = {"symbol": symbol, "action": "skip", "side": signal["signal"], "qty": 0.0, "entry": float(price),
                "stop": None, "atr": float(atr_abs), "signal": signal}
        for blocked, reason in ((not is_new_bar, "not_new_bar"), (daily_loss_hit, "daily_loss_limit"),
                                (funding_avoid, "funding_window"), (not can_reenter, "reentry_blocked"),
                                (signal["signal"] is None, "no_signal")):
            if blocked:
                return {**plan, "reason": reason}
        side = _side(signal["signal"])
        qty = self.risk.calc_qty_by_risk(equity, price, atr_abs, self.risk.params.leverage, symbol)
        if qty <= 0:
            return {**plan, "reason": "size_zero"}
        stop = float(price) - side.sign * self.risk.params.stop_atr_k * float(atr_abs)
        return {**plan, "action": "enter", "qty": qty, "stop": stop, "reason": "ok"}


def _float(x: Any) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x
