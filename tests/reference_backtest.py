"""A reference backtester in plain Python, for tests only: the oracle of the compiled loop.

It drives :func:`autobot_lib.pipeline.decide` (the live engine's entry point) on every bar with a
straightforward Python account: fills, fees, slippage, funding, liquidation, the trade log and the
journal record per decision. :func:`autobot_lib.backtest.run_backtest` must give the same trades,
equity curve and journal. This is the backtester as it was written before its loop was compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from autobot_lib.backtest import CostModel
from autobot_lib.backtest.costs import funding_payment, liquidation_price
from autobot_lib.config import Settings
from autobot_lib.data.frame import infer_timeframe, timeframe_delta, to_utc
from autobot_lib.journal import journal_frame
from autobot_lib.model import Account, Bar, ExitReason, IntentKind, MarketFilters, OrderIntent, Position, Proposal
from autobot_lib.pipeline import Context, build_features, decide, feature_spec, open_position, regime_params, strategy_for
from autobot_lib.risk.params import RiskParams, risk_params
from autobot_lib.rules.rule import RuleSet

END_OF_DATA = "end_of_data"
_DAY_NS = 86_400 * 10**9
_NEUTRAL = Proposal.NEUTRAL.value
TRADE_COLUMNS = ["symbol", "side", "entry_time", "entry_price", "initial_stop", "exit_time", "exit_price", "qty",
                 "notional", "fees",
                 "funding", "pnl", "r_multiple", "mae_r", "mfe_r", "bars_held", "exit_reason", "entry_rules",
                 "entry_regime"]


@dataclass
class _Held:
    """The backtester's bookkeeping around one open position."""

    position: Position
    margin: float
    fees: float
    entry_time: pd.Timestamp
    entry_rules: str
    entry_regime: str | None
    liquidation: float
    funding: float = 0.0
    realized: float = 0.0          # gross PnL of partial exits so far
    exit_value: float = 0.0        # sum of qty x price of exits
    exit_qty: float = 0.0
    max_qty: float = 0.0
    mae: float = 0.0               # worst adverse excursion from the first entry, price units
    mfe: float = 0.0


@dataclass
class _Symbol:
    """A symbol's precomputed arrays and its place in the loop."""

    name: str
    features: pd.DataFrame
    evaluation: Any
    filters: MarketFilters
    t_ns: np.ndarray               # bar open times, int64 ns (no Timestamp boxing per bar)
    funding_times: np.ndarray      # int64 ns
    funding_rates: np.ndarray
    recorded: list[str]
    recorded_values: np.ndarray
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray
    c: np.ndarray
    v: np.ndarray
    atr: np.ndarray
    adx: np.ndarray
    adx_prev: np.ndarray
    age: np.ndarray
    regime: list[str | None]
    proposal: np.ndarray
    exit_upper: np.ndarray | None
    exit_lower: np.ndarray | None
    cursor: int = 0
    funding_cursor: int = 0
    pending: list[tuple[OrderIntent, float, str | None]] = field(default_factory=list)  # intent, ATR, regime
    last_close: float = float("nan")


@dataclass(frozen=True)
class BacktestResult:
    trades: pd.DataFrame
    equity: pd.DataFrame           # per bar: equity, balance, unrealized, margin, drawdown
    journal: pd.DataFrame
    initial_equity: float
    settings: Settings
    costs: CostModel

    @property
    def final_equity(self) -> float:
        return float(self.equity["equity"].iloc[-1]) if len(self.equity) else self.initial_equity


class _Engine:
    def __init__(self, symbols: list[_Symbol], settings: Settings, params: RiskParams, strategy_name: str,
                 equity: float, costs: CostModel, bar_length: pd.Timedelta):
        self.symbols, self.settings, self.params = symbols, settings, params
        self.strategy, self.costs, self.bar_length = strategy_name, costs, bar_length
        self.balance = equity
        self.peak = equity
        self.anchor = equity
        self.anchor_day: Any = None
        self.held: dict[str, _Held] = {}
        self.trades: list[dict] = []
        self.records: dict[tuple[str, int], Any] = {}
        self.by_name = {s.name: s for s in symbols}

    # --- account -----------------------------------------------------------------------------------
    def unrealized(self) -> float:
        return sum(h.position.side.sign * h.position.qty * (self.by_name[s].last_close - h.position.entry_price)
                   for s, h in self.held.items())

    def equity(self) -> float:
        return self.balance + self.unrealized()

    def account(self) -> Account:
        margin = sum(h.margin for h in self.held.values())
        return Account(self.equity(), self.balance - margin, self.peak, self.anchor,
                       positions=tuple(h.position for h in self.held.values()))

    # --- fills -------------------------------------------------------------------------------------
    def _fee(self, notional: float, maker: bool = False) -> float:
        return notional * (self.costs.maker_fee if maker else self.costs.taker_fee)

    def _open(self, sym: _Symbol, intent: OrderIntent, atr: float, regime: str | None, t: pd.Timestamp,
              price: float) -> None:
        fill = self.costs.slipped(intent.side, price, atr, opening=True)
        position = open_position(intent, fill, atr, t, self.params)
        notional = position.qty * fill
        fee = self._fee(notional)
        self.balance -= fee
        self.held[sym.name] = _Held(position, notional / self.params.leverage, fee, t, intent.reason, regime,
                                    liquidation_price(intent.side, fill, self.params.leverage,
                                                      self.costs.maintenance_margin_rate), max_qty=position.qty)

    def _exit(self, sym: _Symbol, qty: float, price: float, reason: str, t: pd.Timestamp, *, maker: bool = False,
              fee_rate: float | None = None) -> None:
        h = self.held[sym.name]
        pos = h.position
        gross = pos.side.sign * qty * (price - pos.entry_price)
        fee = qty * price * (fee_rate if fee_rate is not None else (self.costs.maker_fee if maker else self.costs.taker_fee))
        self.balance += gross - fee
        h.realized += gross
        h.fees += fee
        h.exit_value += qty * price
        h.exit_qty += qty
        remaining = pos.qty - qty
        if remaining <= pos.initial_qty * 1e-9:
            self._close_trade(sym.name, h, reason, t)
        else:
            h.margin *= remaining / pos.qty
            h.position = pos.with_(qty=remaining)

    def _close_trade(self, name: str, h: _Held, reason: str, t: pd.Timestamp) -> None:
        pos = h.position
        risk = pos.risk_per_unit * pos.initial_qty
        pnl = h.realized - h.fees - h.funding
        self.trades.append({
            "symbol": name, "side": pos.side.value, "entry_time": h.entry_time, "entry_price": pos.first_entry_price,
            "initial_stop": pos.first_entry_price - pos.side.sign * pos.risk_per_unit,
            "exit_time": t, "exit_price": h.exit_value / h.exit_qty, "qty": h.max_qty,
            "notional": h.max_qty * pos.first_entry_price, "fees": h.fees, "funding": h.funding, "pnl": pnl,
            "r_multiple": pnl / risk if risk else np.nan,
            "mae_r": -h.mae / pos.risk_per_unit if pos.risk_per_unit else np.nan,
            "mfe_r": h.mfe / pos.risk_per_unit if pos.risk_per_unit else np.nan,
            "bars_held": pos.bars_held, "exit_reason": reason, "entry_rules": h.entry_rules,
            "entry_regime": h.entry_regime})
        del self.held[name]

    # --- one bar ------------------------------------------------------------------------------------
    def bar(self, sym: _Symbol, i: int) -> None:
        t_ns = int(sym.t_ns[i])
        o, hi, lo, c = sym.o[i], sym.h[i], sym.l[i], sym.c[i]
        day = t_ns // _DAY_NS
        if day != self.anchor_day:
            self.anchor_day, self.anchor = day, self.equity()
        held = self.held.get(sym.name)
        # funding settlements in (previous bar open, this bar open]
        while sym.funding_cursor < len(sym.funding_times) and sym.funding_times[sym.funding_cursor] <= t_ns:
            if held is not None and sym.funding_times[sym.funding_cursor] > held.entry_time.value:
                pay = funding_payment(held.position.side, held.position.qty, o, sym.funding_rates[sym.funding_cursor])
                self.balance -= pay
                held.funding += pay
            sym.funding_cursor += 1
        t = pd.Timestamp(t_ns, tz="UTC")
        # orders decided on the previous bar fill at this open
        for intent, atr, regime in sym.pending:
            if intent.kind is IntentKind.EXIT and sym.name in self.held:
                h = self.held[sym.name]
                fill = self.costs.slipped(h.position.side, o, atr, opening=False)
                self._exit(sym, h.position.qty, fill, intent.reason, t)
            elif intent.kind is IntentKind.ENTRY and sym.name not in self.held:
                self._open(sym, intent, atr, regime, t, o)
        sym.pending = []
        held = self.held.get(sym.name)
        sym.last_close = c
        if held is not None:
            pos = held.position
            sign = pos.side.sign
            held.mfe = max(held.mfe, sign * ((hi if sign > 0 else lo) - pos.first_entry_price))
            held.mae = min(held.mae, sign * ((lo if sign > 0 else hi) - pos.first_entry_price))
            adverse = lo if sign > 0 else hi
            stop_protects = sign * (pos.stop - held.liquidation) > 0
            if sign * (adverse - held.liquidation) <= 0 and (not stop_protects or sign * (o - held.liquidation) <= 0):
                self._exit(sym, pos.qty, held.liquidation, ExitReason.LIQUIDATION.value, t,
                           fee_rate=self.costs.liquidation_fee)
                held = None
        if held is None and sym.proposal[i] == _NEUTRAL:
            return  # nothing can happen: the outcome is already in the arrays
        self.decide(sym, i, t, o, hi, lo, c)

    def decide(self, sym: _Symbol, i: int, t: pd.Timestamp, o: float, hi: float, lo: float, c: float) -> None:
        ctx = Context(Bar(t, o, hi, lo, c, sym.v[i]), t + self.bar_length, sym.atr[i], sym.adx[i], sym.adx_prev[i],
                      sym.regime[i], int(sym.age[i]), sym.filters, {},
                      (sym.exit_upper[i], sym.exit_lower[i]) if sym.exit_upper is not None else None)
        features = dict(zip(sym.recorded, sym.recorded_values[i].tolist()))
        decision = decide(sym.name, ctx, sym.evaluation.signal(i, features), self.account(), self.params,
                          self.strategy)
        self.records[(sym.name, i)] = decision.record
        step = decision.step
        if step is not None:
            h = self.held[sym.name]
            for fill in step.exits:
                maker = self.costs.tp_as_maker and fill.reason in (ExitReason.TAKE_PROFIT, ExitReason.TP_LADDER)
                price = fill.price if maker else self.costs.slipped(h.position.side, fill.price, ctx.atr, opening=False)
                self._exit(sym, fill.qty, price, fill.reason.value, t, maker=maker)
                if sym.name not in self.held:
                    break
            if step.position is not None and sym.name in self.held:
                h = self.held[sym.name]
                for add in step.adds:
                    fill = self.costs.slipped(h.position.side, add.price, ctx.atr, opening=True)
                    fee = self._fee(add.qty * fill)
                    self.balance -= fee
                    h.fees += fee
                    h.margin += add.qty * fill / self.params.leverage
                h.position = step.position      # its qty already counts this bar's partial exits and adds
                h.max_qty = max(h.max_qty, h.position.qty)
        for intent in decision.intents:
            # stops and targets were filled inside the bar above; market orders wait for the next open
            if intent.kind is IntentKind.ENTRY or (intent.kind is IntentKind.EXIT and step is not None
                                                   and step.close_reason is not None):
                sym.pending.append((intent, ctx.atr, ctx.regime))

    def mark(self) -> tuple[float, float, float, float]:
        if not self.held:  # flat: nothing to mark
            self.peak = max(self.peak, self.balance)
            return self.balance, self.balance, 0.0, 1.0 - self.balance / self.peak if self.peak > 0 else 0.0
        equity = self.equity()
        self.peak = max(self.peak, equity)
        margin = sum(h.margin for h in self.held.values())
        return equity, self.balance, margin, 1.0 - equity / self.peak if self.peak > 0 else 0.0


def _prepare(name: str, bars: pd.DataFrame, settings: Settings, rules: RuleSet | None, params: RiskParams,
             filters: MarketFilters, funding: pd.DataFrame | None) -> _Symbol:
    features = build_features(bars, feature_spec(settings), regime_params(settings))
    strategy = strategy_for(settings, rules)
    evaluation = strategy.evaluate(features)
    recorded = sorted(strategy.rules.columns) if hasattr(strategy, "rules") else [strategy.upper, strategy.lower]
    times = funding.index.as_unit("ns").asi8 if funding is not None and len(funding) else np.array([], dtype=np.int64)
    rates = funding["funding_rate"].to_numpy(dtype=np.float64) if funding is not None and len(funding) else np.array([])
    def arr(column: str) -> np.ndarray:
        return features[column].to_numpy(dtype=np.float64)

    n = params.exit_channel
    return _Symbol(name, features, evaluation, filters, features.index.as_unit("ns").asi8, times, rates, recorded,
                   features[recorded].to_numpy(dtype=np.float64), *(arr(k) for k in ("open", "high", "low", "close",
                                                                                       "volume", "atr", "adx", "adx_prev")),
                   features["regime_age"].to_numpy(), [r if isinstance(r, str) else None for r in features["regime"]],
                   evaluation.proposal, arr(f"dc_upper_{n}") if n else None, arr(f"dc_lower_{n}") if n else None)


def reference_backtest(bars: Mapping[str, pd.DataFrame] | pd.DataFrame, settings: Settings, *, equity: float = 10_000.0,
                 costs: CostModel = CostModel(), funding: Mapping[str, pd.DataFrame] | None = None,
                 filters: Mapping[str, MarketFilters] | None = None, rules: RuleSet | None = None,
                 trade_from: pd.Timestamp | str | None = None) -> BacktestResult:
    """Backtest ``settings.STRATEGY`` over ``bars`` (one frame, or {symbol: frame} on a shared account).

    ``trade_from``: bars before it only warm the indicators up (out-of-sample windows in walk-forward);
    the results start there."""
    if isinstance(bars, pd.DataFrame):
        bars = {bars.attrs.get("symbol") or "SYMBOL": bars}
    if not bars:
        raise ValueError("give at least one symbol's bars")
    if not equity > 0:
        raise ValueError(f"equity must be positive, got {equity!r}")
    first = next(iter(bars.values()))
    bar_length = timeframe_delta(first.attrs.get("timeframe") or infer_timeframe(first.index))
    params = risk_params(settings)
    symbols = [_prepare(name, frame, settings, rules, params, (filters or {}).get(name, MarketFilters()),
                        (funding or {}).get(name)) for name, frame in sorted(bars.items())]
    engine = _Engine(symbols, settings, params, strategy_for(settings, rules).name, equity, costs, bar_length)
    timeline = symbols[0].features.index
    for sym in symbols[1:]:
        timeline = timeline.union(sym.features.index)
    start = 0 if trade_from is None else int(timeline.searchsorted(to_utc(trade_from)))
    for sym in symbols:
        sym.cursor = int(sym.features.index.searchsorted(timeline[start])) if start < len(timeline) else len(sym.t_ns)
    marks = np.full((len(timeline), 4), np.nan)
    positions = [timeline.get_indexer(sym.features.index) for sym in symbols]
    for u in range(start, len(timeline)):
        for sym, where in zip(symbols, positions):
            if sym.cursor < len(where) and where[sym.cursor] == u:
                engine.bar(sym, sym.cursor)
                sym.cursor += 1
        marks[u] = engine.mark()
    for sym in symbols:  # close what is still open at the last close, so every trade is complete
        if sym.name in engine.held:
            engine._exit(sym, engine.held[sym.name].position.qty, sym.last_close, END_OF_DATA, sym.features.index[-1])
    if len(timeline):
        marks[-1] = engine.mark()
    curve = pd.DataFrame(marks[start:], index=timeline[start:], columns=["equity", "balance", "margin", "drawdown"])
    curve["unrealized"] = curve["equity"] - curve["balance"]
    trades = pd.DataFrame(engine.trades, columns=TRADE_COLUMNS)
    journal = _journal(symbols, engine, params)
    if start:
        journal = journal[journal["timestamp"] >= timeline[start]].reset_index(drop=True)
    return BacktestResult(trades, curve, journal, equity, settings, costs)


def _journal(symbols: list[_Symbol], engine: _Engine, params: RiskParams) -> pd.DataFrame:
    """Every bar's decision: the full record where :func:`decide` ran, the array outcome elsewhere."""
    frames = []
    for sym in symbols:
        ev = sym.evaluation
        warm = np.isnan(sym.atr) | (params.use_adx_gate & np.array([r is None for r in sym.regime]))
        outcome = np.where(warm, "warmup", np.where(ev.direction == 0, "neutral", "below_threshold")).astype(object)
        base = pd.DataFrame({"timestamp": sym.features.index, "symbol": sym.name, "strategy": engine.strategy,
                             "outcome": outcome, "close": sym.c, "regime": sym.regime, "regime_age": sym.age,
                             "bias": ev.bias, "confidence": ev.confidence, "direction": ev.direction,
                             "proposal": ev.proposal})
        decided = [(i, r) for (name, i), r in engine.records.items() if name == sym.name]
        if decided:
            detail = journal_frame([r for _, r in decided])
            detail.index = [i for i, _ in decided]
            for column in detail.columns:
                if column not in base.columns:
                    base[column] = None
                base[column] = base[column].astype(object)
                base.loc[detail.index, column] = detail[column].astype(object).to_numpy()
        frames.append(base)
    journal = pd.concat(frames, ignore_index=True)
    journal["timestamp"] = pd.to_datetime(journal["timestamp"], utc=True).dt.as_unit("ns")
    return journal.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
