"""Event-driven backtester for USD-M perpetuals on the one decision path.

The bar loop (:mod:`autobot_lib.backtest.loop`) is compiled and calls the compiled decision step
(:func:`autobot_lib.risk.kernel.decide_bar`) that :func:`autobot_lib.pipeline.decide`, the live
engine's entry point, wraps: one implementation, called without Python in between. Per bar, on one
account shared by every symbol: the previous close's market orders fill at this open, liquidation, the
standing stops and targets inside the bar (the adverse extreme first), funding due by the close, the
account at the close (equity, daily anchor, trading state), then every symbol's decision on it. The
fill model is the paper broker's and the local venue's too (``docs/fill-model.md``); costs come from
the plan (:func:`~autobot_lib.plan.compile_plan`: the settings' fees), as the live margin check does.

This module prepares the arrays and turns the loop's output into frames: trades and the equity curve at
once, the decision journal when first read (it has a record per bar and is only needed for reports).
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import pandas as pd

from autobot_lib.backtest import loop
from autobot_lib.backtest.costs import CostModel
from autobot_lib.config import Settings
from autobot_lib.data.frame import infer_timeframe, timeframe_delta, to_utc
from autobot_lib.journal import journal_frame
from autobot_lib.model import TRADE_COLUMNS, MarketFilters, Position, Proposal, Side
from autobot_lib.pipeline import Context, build_features, decision_from, recorded_columns
from autobot_lib.risk import kernel
from autobot_lib.risk.exits import position_step_from, step_buffers
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.sizing import size_from
from autobot_lib.rules.rule import RuleSet

if TYPE_CHECKING:
    from autobot_lib.plan import Plan

END_OF_DATA = "end_of_data"
_DAY_NS = 86_400 * 10**9
_NEUTRAL = Proposal.NEUTRAL.value


_EXIT_LABELS = np.array([r.value for r in kernel.EXIT_REASONS] + [END_OF_DATA], dtype=object)
_REGIME_LABELS = {1.0: "BULL_TREND", -1.0: "BEAR_TREND", 0.0: "RANGE"}


class BacktestResult:
    """Trades, the equity curve (per bar: equity, balance, margin, drawdown, unrealized) and the journal."""

    def __init__(self, trades: pd.DataFrame, equity: pd.DataFrame, journal: pd.DataFrame | Callable[[], pd.DataFrame],
                 initial_equity: float, plan: Plan, settings: Settings | None = None):
        self.trades, self.equity, self.initial_equity, self.plan, self.settings = (trades, equity, initial_equity,
                                                                                   plan, settings)
        self._journal = journal

    @property
    def costs(self) -> CostModel:
        return self.plan.costs

    @cached_property
    def journal(self) -> pd.DataFrame:
        return self._journal() if callable(self._journal) else self._journal

    @property
    def final_equity(self) -> float:
        return float(self.equity["equity"].iloc[-1]) if len(self.equity) else self.initial_equity


class _Symbol:
    """One symbol's features, signals and where its bars sit on the shared timeline."""

    def __init__(self, name: str, bars: pd.DataFrame, plan: Plan, filters: MarketFilters,
                 funding: pd.DataFrame | None):
        self.name, self.filters = name, filters
        self.features = build_features(bars, plan.features, plan.regime)
        strategy = plan.strategy
        self.evaluation = strategy.evaluate(self.features)
        self.recorded = recorded_columns(strategy)
        proposal = self.evaluation.proposal
        self.proposal_sign = (proposal == Proposal.PROPOSE_LONG.value).astype(np.int64) - \
            (proposal == Proposal.PROPOSE_SHORT.value).astype(np.int64)
        has_funding = funding is not None and len(funding) > 0
        self.funding_times = funding.index.as_unit("ns").asi8 if has_funding else np.array([], dtype=np.int64)
        self.funding_rates = funding["funding_rate"].to_numpy(dtype=np.float64) if has_funding else np.array([])
        self.where = np.empty(0, dtype=np.int64)     # row of each bar on the timeline

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        return {c: self.features[c].to_numpy() for c in self.features.columns}


def _grid(symbols: list[_Symbol], n: int, values: Callable[[_Symbol], np.ndarray], fill, dtype) -> np.ndarray:
    """[timeline bar, symbol] from each symbol's own bars."""
    if len(symbols) == 1 and len(symbols[0].where) == n:
        return np.ascontiguousarray(values(symbols[0]), dtype=dtype).reshape(n, 1)
    out = np.full((n, len(symbols)), fill, dtype=dtype)
    for k, sym in enumerate(symbols):
        out[sym.where, k] = values(sym)
    return out


def run_backtest(bars: Mapping[str, pd.DataFrame] | pd.DataFrame, plan: Plan | Settings, *,
                 equity: float = 10_000.0, funding: Mapping[str, pd.DataFrame] | None = None,
                 filters: Mapping[str, MarketFilters] | None = None, rules: RuleSet | None = None,
                 trade_from: pd.Timestamp | str | None = None) -> BacktestResult:
    """Backtest a :class:`~autobot_lib.plan.Plan` (or the settings, compiled here with ``rules``) over
    ``bars`` (one frame, or {symbol: frame} on a shared account).

    Fees and slippage are the plan's (TAKER_FEE, MAKER_FEE, SLIPPAGE_BPS, SLIPPAGE_ATR, TP_AS_MAKER);
    a daily-loss halt re-arms as BACKTEST_HALT_REARM says. ``trade_from``: bars before it only warm the
    indicators up (out-of-sample windows in walk-forward); the results start there."""
    settings = None
    if isinstance(plan, Settings):
        from autobot_lib.plan import compile_plan

        settings, plan = plan, compile_plan(plan, rules)
    elif rules is not None:
        raise ValueError("rules go into the plan (compile_plan(settings, rules)), not beside it")
    costs = plan.costs
    if isinstance(bars, pd.DataFrame):
        bars = {bars.attrs.get("symbol") or "SYMBOL": bars}
    if not bars:
        raise ValueError("give at least one symbol's bars")
    if not equity > 0:
        raise ValueError(f"equity must be positive, got {equity!r}")
    first = next(iter(bars.values()))
    bar_length = timeframe_delta(first.attrs.get("timeframe") or infer_timeframe(first.index))
    params = plan.risk
    symbols = [_Symbol(name, frame, plan, (filters or {}).get(name, MarketFilters()), (funding or {}).get(name))
               for name, frame in sorted(bars.items())]
    timeline = symbols[0].features.index
    for sym in symbols[1:]:
        timeline = timeline.union(sym.features.index)
    for sym in symbols:
        sym.where = np.arange(len(timeline)) if sym.features.index is timeline else \
            timeline.get_indexer(sym.features.index)
    n, n_sym = len(timeline), len(symbols)
    start = 0 if trade_from is None else int(timeline.searchsorted(to_utc(trade_from)))

    def column(name: str, fill=np.nan, dtype=np.float64) -> np.ndarray:
        return _grid(symbols, n, lambda sym: sym.features[name].to_numpy(), fill, dtype)

    channel = params.exit_channel
    nan_grid = np.full((n, n_sym), np.nan)
    exit_upper = column(f"dc_upper_{channel}") if channel else nan_grid
    exit_lower = column(f"dc_lower_{channel}") if channel else nan_grid
    has = _grid(symbols, n, lambda sym: np.ones(len(sym.where), dtype=bool), False, bool)
    regime = _grid(symbols, n, lambda sym: sym.features["regime_code"].to_numpy(), np.nan, np.float64)
    direction = _grid(symbols, n, lambda sym: sym.evaluation.direction, 0, np.int64)
    proposal = _grid(symbols, n, lambda sym: sym.proposal_sign, 0, np.int64)
    funding_times = np.concatenate([sym.funding_times for sym in symbols]).astype(np.int64)
    funding_rates = np.concatenate([sym.funding_rates for sym in symbols]).astype(np.float64)
    funding_start = np.cumsum([0] + [len(sym.funding_times) for sym in symbols]).astype(np.int64)
    markets = np.array([kernel.market(sym.filters) for sym in symbols], dtype=np.float64).reshape(n_sym, 6)
    cost_row = (costs.taker_fee, costs.maker_fee, costs.slippage_bps, costs.slippage_atr, float(costs.tp_as_maker),
                costs.liquidation_fee, costs.maintenance_margin_rate)
    exits, adds = step_buffers(params)
    marks = np.empty((n, 4))
    ji = np.empty((n, n_sym, len(loop.JI)), dtype=np.int64)
    jf = np.empty((n, n_sym, loop.JF_WIDTH))
    events = np.empty((n * n_sym * (len(exits) + len(adds)), 3))
    tf = np.empty((n * n_sym + n_sym, len(loop.TF)))
    ti = np.empty((n * n_sym + n_sym, len(loop.TI)), dtype=np.int64)
    t_ns = timeline.as_unit("ns").asi8
    n_trades, _ = loop.simulate(
        t_ns, has, column("open"), column("high"), column("low"), column("close"), column("atr"), column("adx"),
        column("adx_prev"), regime, column("regime_age", 0, np.int64), exit_upper, exit_lower, direction, proposal,
        funding_times, funding_rates, funding_start, markets, cost_row, float(equity), bar_length.value, start,
        loop.REARM_NEXT_DAY if plan.halt_rearm == "next_day" else loop.REARM_NEVER,
        kernel.kernel_params(params), exits, adds, marks, ji, jf, events, tf, ti)

    curve = pd.DataFrame(marks[start:], index=timeline[start:], columns=["equity", "balance", "margin", "drawdown"])
    curve["unrealized"] = curve["equity"] - curve["balance"]
    # the trading state at each bar's decisions (HALTED after the daily loss limit, until the re-arm)
    states = np.where(has[start:], ji[start:, :, loop.JI.index("trading_state")], -1).max(axis=1)
    curve["halted"] = states == kernel.HALTED
    trades = _trades(symbols, tf[:n_trades], ti[:n_trades])
    strategy = plan.strategy.name
    journal = partial(_journal, symbols, strategy, params, bar_length, ji, jf, events, start, timeline)
    return BacktestResult(trades, curve, journal, equity, plan, settings)


def _trades(symbols: list[_Symbol], tf: np.ndarray, ti: np.ndarray) -> pd.DataFrame:
    cols = dict(zip(loop.TF, tf.T))
    icols = dict(zip(loop.TI, ti.T))
    names = np.array([s.name for s in symbols], dtype=object)
    rules = np.empty(len(ti), dtype=object)
    for k, sym in enumerate(symbols):      # the rules that fired on each trade's entry bar
        mine = icols["symbol"] == k
        fired = sym.evaluation.fired[np.searchsorted(sym.where, icols["entry_bar"][mine])]
        combos, which = np.unique(fired, axis=0, return_inverse=True)
        labels = [",".join(n for n, hit in zip(sym.evaluation.rule_names, combo) if hit) for combo in combos]
        rules[mine] = np.array(labels + [""], dtype=object)[which.reshape(-1)] if len(combos) else []
    regimes = [_REGIME_LABELS.get(r) for r in cols["entry_regime"].tolist()]
    return pd.DataFrame({
        "symbol": names[icols["symbol"]], "side": np.where(icols["sign"] > 0, Side.LONG.value, Side.SHORT.value).astype(object),
        "entry_time": pd.to_datetime(icols["entry_time"], utc=True), "entry_price": cols["entry_price"],
        "initial_stop": cols["initial_stop"], "exit_time": pd.to_datetime(icols["exit_time"], utc=True),
        "exit_price": cols["exit_price"], "qty": cols["qty"], "notional": cols["notional"], "fees": cols["fees"],
        "funding": cols["funding"], "pnl": cols["pnl"], "r_multiple": cols["r_multiple"], "mae_r": cols["mae_r"],
        "mfe_r": cols["mfe_r"], "bars_held": icols["bars_held"], "exit_reason": _EXIT_LABELS[icols["exit_reason"]],
        "entry_rules": pd.Series(rules, dtype=object), "entry_regime": pd.Series(regimes, dtype=object),
    }, columns=TRADE_COLUMNS)


def _position(symbol: str, state: np.ndarray) -> Position:
    sign, qty, entry, stop, tp, rpu, atr, initial, bars_held, be, pyramid, ladder, first = state.tolist()  # PositionState
    return Position(symbol, Side.LONG if sign > 0 else Side.SHORT, qty, entry, stop, None if tp != tp else tp, rpu, atr,
                    pd.NaT, initial, int(bars_held), bool(be), int(pyramid), int(ladder), first)


def _journal(symbols: list[_Symbol], strategy: str, params: RiskParams, bar_length: pd.Timedelta, ji: np.ndarray,
             jf: np.ndarray, events: np.ndarray, start: int, timeline: pd.DatetimeIndex) -> pd.DataFrame:
    """Every bar's decision: the outcome and signal for all, the full record (as :func:`decide` writes it)
    where a position was held or an entry proposed."""
    frames = []
    gate_labels = np.array([f"gate:{g}" for g in kernel.GATE_ORDER], dtype=object)
    veto_labels = np.array([f"veto:{v}" for v in kernel.VETO_ORDER], dtype=object)
    size_labels = np.array([f"size:{r}" for r in kernel.SIZE_REASONS], dtype=object)
    for k, sym in enumerate(symbols):
        keep = sym.where >= start
        rows, local = sym.where[keep], np.flatnonzero(keep)
        ints, floats = ji[rows, k], jf[rows, k]
        code = ints[:, 0]
        outcome = np.array(kernel.OUTCOMES, dtype=object)[code]
        lowest = lambda mask: np.log2(np.maximum(mask & -mask, 1)).astype(int)  # noqa: E731
        outcome = np.where(code == kernel.GATE, gate_labels[lowest(ints[:, 1])], outcome)
        outcome = np.where(code == kernel.VETO, veto_labels[lowest(ints[:, 2])], outcome)
        outcome = np.where(code == kernel.SIZE, size_labels[np.maximum(ints[:, 6], 0)], outcome)
        ev, f = sym.evaluation, sym.features
        base = pd.DataFrame({"timestamp": f.index[local], "symbol": sym.name, "strategy": strategy,
                             "outcome": outcome, "close": f["close"].to_numpy()[local],
                             "regime": f["regime"].to_numpy()[local], "regime_age": f["regime_age"].to_numpy()[local],
                             "bias": ev.bias[local], "confidence": ev.confidence[local],
                             "direction": ev.direction[local], "proposal": ev.proposal[local]})
        decided = np.flatnonzero((code == kernel.IN_POSITION) | (sym.proposal_sign[local] != 0))
        if len(decided):
            records = [_record(sym, strategy, params, bar_length, int(local[j]), ints[j], floats[j], events).record
                       for j in decided]
            detail = journal_frame(records)
            for column in detail.columns:
                if column not in base.columns:
                    base[column] = pd.Series([None] * len(base), dtype=object)
                    base.loc[decided, column] = pd.Series(detail[column].tolist(), index=decided, dtype=object)
        frames.append(base)
    journal = pd.concat(frames, ignore_index=True)
    journal["timestamp"] = journal["timestamp"].dt.as_unit("ns")
    return journal.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)


class _Row:
    """Row ``i`` of a symbol's feature columns, read on demand (faster than ``DataFrame.iloc``)."""

    def __init__(self, columns: dict[str, np.ndarray], i: int):
        self.columns, self.i = columns, i

    def __getitem__(self, name: str):
        return self.columns[name][self.i]


def _record(sym: _Symbol, strategy: str, params: RiskParams, bar_length: pd.Timedelta, i: int, ints: np.ndarray,
            floats: np.ndarray, events: np.ndarray):
    """Bar ``i``'s decision rebuilt from the loop's arrays by the function :func:`decide` ends with."""
    row = _Row(sym.columns, i)
    ctx = Context.from_row(sym.features.index[i], row, bar_length, sym.filters, exit_channel=params.exit_channel)
    signal = sym.evaluation.signal(i, {c: float(row[c]) for c in sym.recorded})
    outcome, gate, vetoes, sized, units, capped, reason, close_reason, moved, closed, n_exits, n_adds, first, _ = \
        ints.tolist()
    size = size_from((units, floats[0], floats[1], floats[2], floats[3], capped, reason), sym.filters) if sized else None
    position = step = None
    if outcome == kernel.IN_POSITION:
        position = _position(sym.name, floats[loop.JF_BEFORE:loop.JF_AFTER])
        after = kernel.PositionState(*floats[loop.JF_AFTER:].tolist())
        step = position_step_from(position, after, events[first:first + n_exits], events[first + n_exits:first + n_exits + n_adds],
                                  moved, close_reason, closed)
    return decision_from(sym.name, ctx, signal, params, strategy, outcome, gate, vetoes, size, position, step)
