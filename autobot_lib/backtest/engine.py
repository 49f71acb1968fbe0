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

import gc
import math
from contextlib import contextmanager
from decimal import Decimal
from functools import cached_property, partial
from itertools import repeat
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import pandas as pd

from autobot_lib.backtest import loop
from autobot_lib.backtest.costs import CostModel
from autobot_lib.config import Settings
from autobot_lib.data.frame import infer_timeframe, timeframe_delta, to_utc
from autobot_lib.model import TRADE_COLUMNS, IntentKind, MarketFilters, Proposal, Side
from autobot_lib.pipeline import build_features, recorded_columns
from autobot_lib.risk import kernel
from autobot_lib.risk.exits import initial_stop, step_buffers, take_profit_price
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.sizing import round_down, size_from
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
    states = np.where(has[start:], ji[start:, :, loop.JI.trading_state], -1).max(axis=1)
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


def _journal(symbols: list[_Symbol], strategy: str, params: RiskParams, bar_length: pd.Timedelta, ji: np.ndarray,
             jf: np.ndarray, events: np.ndarray, start: int, timeline: pd.DatetimeIndex) -> pd.DataFrame:
    """Every bar's decision: the outcome and signal for all, the full record (as :func:`decide` writes it)
    where a position was held or an entry proposed. Built column by column from the loop's arrays
    (:func:`_details`); ``tests/test_journal_frame.py`` holds it to the record path value for value."""
    frames = []
    for k, sym in enumerate(symbols):
        keep = sym.where >= start
        rows, local = sym.where[keep], np.flatnonzero(keep)
        ints = ji[rows, k]
        code = ints[:, loop.JI.outcome]
        ev, f = sym.evaluation, sym.features
        columns = {"timestamp": f.index[local].as_unit("ns"), "symbol": sym.name, "strategy": strategy, "outcome": _outcomes(ints),
                   "close": f["close"].to_numpy()[local], "regime": f["regime"].to_numpy()[local],
                   "regime_age": f["regime_age"].to_numpy()[local], "bias": ev.bias[local],
                   "confidence": ev.confidence[local], "direction": ev.direction[local], "proposal": ev.proposal[local]}
        decided = np.flatnonzero((code == kernel.IN_POSITION) | (sym.proposal_sign[local] != 0))
        if len(decided):        # no record at all: no detail columns (NaN where another symbol has them)
            with _collector_paused():
                details = _details(sym, params, local[decided], ints[decided], jf[rows[decided], k], events)
            for column, values in details.items():
                full = np.full(len(local), None, dtype=object)
                full[decided] = values if isinstance(values, np.ndarray) else _objects(values)
                columns[column] = pd.Series(full, dtype=object)
        frames.append(pd.DataFrame(columns))
    journal = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(frames) == 1 and journal["timestamp"].is_monotonic_increasing:
        return journal      # one symbol's bars are in order already
    return journal.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)


@contextmanager
def _collector_paused():
    """The cyclic garbage collector off while the records' dicts and lists are made: they hold no cycles,
    and with hundreds of thousands of them alive every collection it would start rescans them all (more
    than half the journal's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_GATE_LABELS = np.array([f"gate:{g}" for g in kernel.GATE_ORDER], dtype=object)
_VETO_LABELS = np.array([f"veto:{v}" for v in kernel.VETO_ORDER], dtype=object)
_SIZE_LABELS = np.array([f"size:{r}" for r in kernel.SIZE_REASONS], dtype=object)
_OUTCOME_LABELS = np.array(kernel.OUTCOMES, dtype=object)
_SIDES = np.array([Side.SHORT.value, Side.LONG.value], dtype=object)
_EXIT_REASON_VALUES = tuple(r.value for r in kernel.EXIT_REASONS)
_P = {name: i for i, name in enumerate(kernel.PositionState._fields)}   # a stored kernel position's columns


def _outcomes(ints: np.ndarray) -> np.ndarray:
    """The outcome labels: the gate's and the vetoes' first reason (the lowest bit), the size's reason."""
    code = ints[:, loop.JI.outcome]
    lowest = lambda mask: np.log2(np.maximum(mask & -mask, 1)).astype(int)
    outcome = _OUTCOME_LABELS[code]
    for which, labels, bits in ((kernel.GATE, _GATE_LABELS, loop.JI.gate), (kernel.VETO, _VETO_LABELS, loop.JI.vetoes)):
        rows = np.flatnonzero(code == which)
        outcome[rows] = labels[lowest(ints[rows, bits])]
    rows = np.flatnonzero(code == kernel.SIZE)
    outcome[rows] = _SIZE_LABELS[np.maximum(ints[rows, loop.JI.size_reason], 0)]
    return outcome


def _decimal_text(step: Decimal) -> Callable[[float], str]:
    """``str(round_down(v, step))``: the exact decimal string of a quantity or price as sent, with a short
    cut for a value already on the grid of a step 10**-d. There ``k / 10**d == v`` with under 16 digits in
    ``k`` means ``repr(v)``, which ``round_down`` reads, is exactly ``k`` steps (a double tells decimals of up
    to 15 significant digits apart, so the shortest one that reads back as ``v`` is that one)."""
    exact = lambda v: str(round_down(v, step))
    sign, digits, exponent = step.as_tuple()
    if sign or digits != (1,) or not isinstance(exponent, int) or exponent > 0:
        return exact
    scale = 10 ** -exponent

    def text(v: float) -> str:
        x = v * scale
        if abs(x) < 1e15:                       # finite, and k of at most 15 digits
            k = round(x)
            if k / scale == v:
                return str((Decimal(k) * step).normalize()) if k else "0"
        return exact(v)
    return text


def _values(column: np.ndarray) -> list:
    """Python floats, None for NaN: what :func:`autobot_lib.journal.record` keeps of a number."""
    column = np.asarray(column, dtype=np.float64)
    out = column.tolist()
    for j in np.flatnonzero(np.isnan(column)).tolist():
        out[j] = None
    return out


def _each(values: list, text: Callable) -> list:
    """``text(v)`` for each value, computed once per distinct value (the decimal strings)."""
    table = {v: text(v) for v in set(values)}
    return [table.get(v) or text(v) for v in values]      # NaN is not found in a table: computed again


def _distinct(fired: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """The distinct rows of a (bars, rules) bool array, as the indices of their True columns, and which
    of them each bar's row is."""
    if fired.shape[1] > 62:
        combos, which = np.unique(fired, axis=0, return_inverse=True)
        return [np.flatnonzero(c) for c in combos], which.reshape(-1).tolist()
    bits = np.arange(fired.shape[1], dtype=np.int64)
    codes, which = np.unique(fired.astype(np.int64) @ (1 << bits), return_inverse=True)
    return [np.flatnonzero(c >> bits & 1) for c in codes.tolist()], which.reshape(-1).tolist()


def _per_mask(masks: np.ndarray, order: tuple[str, ...]) -> list[list[str]]:
    unique, which = np.unique(masks, return_inverse=True)
    reasons = [kernel.reasons(int(m), order) for m in unique.tolist()]
    return list(map(list, map(reasons.__getitem__, which.reshape(-1).tolist())))


def _details(sym: _Symbol, params: RiskParams, i: np.ndarray, ints: np.ndarray, floats: np.ndarray,
             events: np.ndarray) -> dict[str, list]:
    """The detail fields of the records of bars ``i`` (their ``ints`` and ``floats`` rows of the loop's
    journal arrays), exactly as :func:`autobot_lib.pipeline.decision_from` writes them: the rules that
    fired, the recorded features, the gate's and vetoes' reasons, the size, the order intents, the
    position after the bar and its exits. Python runs per distinct value (reason masks, rule combinations,
    decimal strings) and per row only to assemble each row's dicts and lists."""
    n, name, filters, columns, ev = len(i), sym.name, sym.filters, sym.columns, sym.evaluation
    code = ints[:, loop.JI.outcome]
    qty_text, price_text = _decimal_text(filters.step_size), _decimal_text(filters.tick_size)

    # the rules that fired: one table per distinct combination
    combos, which = _distinct(ev.fired[i])
    hits = [[(ev.rule_names[j], *_values(np.array([ev.rule_bias[j], ev.rule_weight[j]]))) for j in c.tolist()]
            for c in combos]
    templates = [[{"rule": r, "bias": b, "weight": w} for r, b, w in combo] for combo in hits]
    rules_hit = [list(map(dict.copy, templates[c])) for c in which]     # each row its own dicts

    keys = list(dict.fromkeys([*sym.recorded, "atr", "adx", "adx_prev"]))   # the signal's, then the context's
    features = list(map(dict, map(zip, repeat(keys, n), zip(*(_values(columns[c][i]) for c in keys)))))

    size: list = [None] * n
    sized = np.flatnonzero(ints[:, loop.JI.sized]).tolist()
    if sized:
        qty = _each(ints[sized, loop.JI.units].tolist(),
                    lambda units: str(size_from((units, 0.0, 0.0, 0.0, 0.0, -1, -1), filters).qty))
        notional, risk, distance = (_values(floats[sized, c]) for c in (loop.JF.notional, loop.JF.risk,
                                                                                loop.JF.stop_distance))
        capped = [None if c < 0 else kernel.CAPS[c] for c in ints[sized, loop.JI.capped_by].tolist()]
        reason = [None if r < 0 else kernel.SIZE_REASONS[r] for r in ints[sized, loop.JI.size_reason].tolist()]
        for j, row in enumerate(sized):
            size[row] = {"qty": qty[j], "notional": notional[j], "risk": risk[j], "stop_distance": distance[j],
                         "capped_by": capped[j], "reason": reason[j]}

    intents, exits = _objects([[] for _ in range(n)]), _objects([[] for _ in range(n)])
    position = np.full(n, None, dtype=object)

    # entries: the market order, its stop and target as they would stand if it filled at the close
    for row in np.flatnonzero(code == kernel.ORDER).tolist():
        side = Side.LONG if ev.proposal[i[row]] == Proposal.PROPOSE_LONG.value else Side.SHORT
        close = float(columns["close"][i[row]])
        stop = initial_stop(side, close, float(columns["atr"][i[row]]), params, filters)
        target = take_profit_price(side, close, float(floats[row, loop.JF.stop_distance]), params, filters)
        intents[row] = [{"symbol": name, "kind": IntentKind.ENTRY.value, "side": side.value, "qty": size[row]["qty"],
                         "price": _value(close), "stop_price": price_text(stop),
                         "take_profit": None if target is None else price_text(target), "reduce_only": False,
                         "reason": ",".join(r for r, _, _ in hits[which[row]])}]

    # held positions: the position after the bar, the fills inside it, the market exit or the moved stop
    held = np.flatnonzero(code == kernel.IN_POSITION)
    if len(held):
        before, after = floats[held, loop.JF_BEFORE:loop.JF_AFTER], floats[held, loop.JF_AFTER:]
        h = ints[held]
        ji = loop.JI
        close_reason, moved, closed, n_exits, n_adds, first = (h[:, c].tolist() for c in (
            ji.close_reason, ji.stop_moved, ji.closed, ji.n_exits, ji.n_adds, ji.first_event))
        sides = _SIDES[(before[:, _P["sign"]] > 0).astype(np.int64)].tolist()
        qty, stop = _values(after[:, _P["qty"]]), _values(after[:, _P["stop"]])
        raw_qty, raw_stop = after[:, _P["qty"]], after[:, _P["stop"]]     # NaN kept for the text: "NaN"
        be_before, be_after = before[:, _P["be_promoted"]] != 0, after[:, _P["be_promoted"]] != 0
        promoted = (be_after & ~be_before).tolist()
        steps = (after[:, _P[c]].astype(np.int64).tolist() for c in ("bars_held", "pyramid_steps", "ladder_steps"))
        position[held] = _objects([
            {"side": s, "qty": q, "entry_price": e, "stop": st, "take_profit": tp, "bars_held": b, "be_promoted": be,
             "pyramid_steps": p, "ladder_steps": lad}
            for s, q, e, st, tp, b, be, p, lad in zip(sides, qty, _values(before[:, _P["entry"]]), stop,
                                                     _values(before[:, _P["take_profit"]]), next(steps),
                                                     be_after.tolist(), next(steps), next(steps))])
        position[held[np.flatnonzero(closed)]] = None

        # the common bar: no fill, no market exit; a STOP intent when the stop moved
        h_close, h_moved = h[:, loop.JI.close_reason], h[:, loop.JI.stop_moved]
        plain = (h[:, loop.JI.n_exits] == 0) & (h[:, loop.JI.n_adds] == 0) & (h_close < 0) & (h[:, loop.JI.closed] == 0)
        stops = np.flatnonzero(plain & (h_moved != 0))
        if len(stops):
            picked, kind = stops.tolist(), IntentKind.STOP.value
            intents[held[stops]] = _objects([
                [{"symbol": name, "kind": kind, "side": sides[j], "qty": q, "price": stop[j], "stop_price": price,
                  "take_profit": None, "reduce_only": True, "reason": "break_even" if promoted[j] else "trail"}]
                for j, q, price in zip(picked, _each(raw_qty[stops].tolist(), qty_text),
                                       _each(raw_stop[stops].tolist(), price_text))])
        # the rest, one by one: :func:`autobot_lib.pipeline._position_intents`
        for j in np.flatnonzero(~plain).tolist():
            row, at = int(held[j]), int(first[j])
            fills = events[at:at + n_exits[j]].tolist()
            adds = events[at + n_exits[j]:at + n_exits[j] + n_adds[j]].tolist()
            out = []
            for m, (reason, fill_qty, fill_price) in enumerate(fills):
                kind = IntentKind.EXIT if closed[j] and m == len(fills) - 1 else IntentKind.PARTIAL_EXIT
                out.append(_intent(name, kind, sides[j], qty_text(fill_qty), _value(fill_price), None, True,
                                   _EXIT_REASON_VALUES[int(reason)]))
            for add_qty, add_price, level in adds:
                out.append(_intent(name, IntentKind.ADD, sides[j], qty_text(add_qty), _value(add_price), None, False,
                                   f"pyramid_level_{int(level)}"))
            if close_reason[j] >= 0:
                out.append(_intent(name, IntentKind.EXIT, sides[j], qty_text(float(raw_qty[j])),
                                   _value(float(columns["close"][i[row]])), None, True,
                                   _EXIT_REASON_VALUES[close_reason[j]]))
            elif not closed[j] and (moved[j] or adds or fills):
                reason = "break_even" if promoted[j] else "trail" if moved[j] else "quantity"
                out.append(_intent(name, IntentKind.STOP, sides[j], qty_text(float(raw_qty[j])), stop[j],
                                   price_text(float(raw_stop[j])), True, reason))
            intents[row] = out
            exits[row] = [{"reason": _EXIT_REASON_VALUES[int(r)], "qty": _value(q), "price": _value(p)}
                          for r, q, p in fills]
            if close_reason[j] >= 0:
                exits[row].append({"reason": _EXIT_REASON_VALUES[close_reason[j]], "qty": qty[j], "price": None})
    gate = _per_mask(ints[:, loop.JI.gate], kernel.GATE_ORDER)
    vetoes = _per_mask(ints[:, loop.JI.vetoes], kernel.VETO_ORDER)
    return {"rules_hit": rules_hit, "features": features, "gate": gate, "vetoes": vetoes, "size": size,
            "intents": intents, "position": position, "exits": exits}


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` as they are (lists stay elements, not a second dimension)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _value(x: float) -> float | None:
    return None if math.isnan(x) else x


def _intent(symbol: str, kind: IntentKind, side: str, qty: str, price: float | None, stop_price: str | None,
            reduce_only: bool, reason: str) -> dict:
    """:meth:`autobot_lib.model.OrderIntent.to_dict` of an intent without a take profit."""
    return {"symbol": symbol, "kind": kind.value, "side": side, "qty": qty, "price": price, "stop_price": stop_price,
            "take_profit": None, "reduce_only": reduce_only, "reason": reason}
