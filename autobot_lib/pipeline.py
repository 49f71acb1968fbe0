"""The one decision path: features -> regime -> strategy signal -> ADX gate -> vetoes -> size -> intents.

Pure: values in, values out; no I/O, no clock, no settings object inside :func:`decide`. The backtester
and the live engine both call :func:`decide` once per closed bar and symbol; what differs between them
is only where the bars come from and who fills the intents.

- :func:`build_features` turns OHLCV bars into the feature frame every strategy reads (indicators,
  ``regime``, ``regime_age``, ``adx_prev``).
- a strategy (:mod:`autobot_lib.strategy`) turns it into signals, over a whole history or the latest bar;
- :func:`decide` takes one bar's signal and the account and returns the order intents and the journal
  record: first the open position is managed (stops, targets, trailing, pyramiding), then, when flat,
  an entry passes the gate, the vetoes and sizing or is stopped with a reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from autobot_lib.data.frame import OHLCV_COLUMNS, infer_timeframe, timeframe_delta, to_utc
from autobot_lib.indicators import FeatureSpec, feature_matrix, ohlcv_matrix
from autobot_lib.journal import JournalRecord, record
from autobot_lib.model import (
    Account, Bar, IntentKind, MarketFilters, OrderIntent, Position, Side, Signal,
)
from autobot_lib.regime import REGIME_ORDER, RegimeParams, regime_positions
from autobot_lib.risk import kernel
from autobot_lib.risk.exits import PositionStep, initial_stop, position_step_from, step_buffers, take_profit_price
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.sizing import Size, round_down, round_price, size_from
from autobot_lib.risk.vetoes import correlated
from autobot_lib.strategy import RuleStrategy, Strategy

def recorded_columns(strategy: Strategy) -> list[str]:
    """The feature values a journal record keeps beside a strategy's signal: what its rules read."""
    return sorted(strategy.rules.columns) if isinstance(strategy, RuleStrategy) else [strategy.upper, strategy.lower]


# --- features ------------------------------------------------------------------------------------

_REGIME_LABELS = np.array([r.value for r in REGIME_ORDER] + [None], dtype=object)  # code -1 (warm-up): None
_REGIME_CODES = np.array([kernel.regime_code(r.value) for r in REGIME_ORDER] + [np.nan])
_STR = pd.Series(["label"]).dtype           # what pandas makes of a column of labels (Arrow strings in pandas 3)


def _regime_labels(positions: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The ``regime`` column from positions in REGIME_ORDER (-1: None), as the column of labels pandas
    would infer, but taken from the three labels in Arrow rather than converted from a string per bar."""
    if isinstance(_STR, pd.StringDtype) and _STR.storage == "pyarrow":
        import pyarrow as pa

        labels = pa.array([r.value for r in REGIME_ORDER], type=pa.large_string())
        return pd.arrays.ArrowStringArray(labels.take(pa.array(positions, mask=positions < 0)), dtype=_STR)
    return _REGIME_LABELS[positions]


def build_features(bars: pd.DataFrame, spec: FeatureSpec = FeatureSpec(),
                   params: RegimeParams = RegimeParams()) -> pd.DataFrame:
    """OHLCV plus every feature column, ``regime`` (None while warming up) and its ``regime_code`` (1
    bull, -1 bear, 0 range, NaN), ``regime_age`` (bars in the current regime, 1 on the bar it began) and
    ``adx_prev``.

    Built once from a dict of arrays (the indicators' column-major matrix gives each column without a
    copy); the regime is carried as small int codes and labelled only for the frame's ``regime`` column."""
    matrix = ohlcv_matrix(bars)
    features = feature_matrix(matrix, spec)
    columns: dict[str, object] = {c: bars[c].to_numpy(copy=True) for c in OHLCV_COLUMNS}
    columns.update(zip(spec.columns, features.T))
    codes = regime_positions(matrix, params, columns)
    n = len(codes)
    columns["regime"] = _regime_labels(codes)
    columns["regime_code"] = _REGIME_CODES[codes]
    known = codes >= 0
    starts = np.ones(n, dtype=bool)
    starts[1:] = codes[1:] != codes[:-1]
    run_id = np.cumsum(starts)
    position_in_run = np.arange(n) - np.flatnonzero(starts)[run_id - 1] + 1
    columns["regime_age"] = np.where(known, position_in_run, 0)
    adx = columns["adx"]
    adx_prev = np.empty(n)
    adx_prev[:1] = np.nan
    adx_prev[1:] = adx[:-1]
    columns["adx_prev"] = adx_prev
    return pd.DataFrame(columns, index=bars.index, copy=False)


# --- the decision ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    """What the pipeline knows about one closed bar of one symbol besides the signal."""

    bar: Bar                          # its timestamp is the bar's open time
    decided_at: pd.Timestamp          # when the bar closed and the decision is taken
    atr: float
    adx: float
    adx_prev: float
    regime: str | None
    regime_age: int
    filters: MarketFilters = MarketFilters()
    correlations: Mapping[str, float] = field(default_factory=dict)
    exit_channel: tuple[float, float] | None = None   # (upper, lower) of the exit channel, when one is used

    @classmethod
    def from_row(cls, timestamp: pd.Timestamp, row: Mapping, bar_length: pd.Timedelta,
                 filters: MarketFilters = MarketFilters(), correlations: Mapping[str, float] | None = None,
                 exit_channel: int = 0) -> Context:
        regime = row["regime"]
        channel = (float(row[f"dc_upper_{exit_channel}"]), float(row[f"dc_lower_{exit_channel}"])) if exit_channel else None
        return cls(Bar(timestamp, float(row["open"]), float(row["high"]), float(row["low"]), float(row["close"]),
                       float(row["volume"])), timestamp + bar_length, float(row["atr"]), float(row["adx"]),
                   float(row["adx_prev"]), regime if isinstance(regime, str) else None, int(row["regime_age"]),
                   filters, correlations or {}, channel)


@dataclass(frozen=True)
class Decision:
    record: JournalRecord
    intents: tuple[OrderIntent, ...]
    step: PositionStep | None = None        # what happened to a position held into this bar


def _position_dict(p: Position | None) -> dict | None:
    if p is None:
        return None
    return {"side": p.side.value, "qty": p.qty, "entry_price": p.entry_price, "stop": p.stop,
            "take_profit": p.take_profit, "bars_held": p.bars_held, "be_promoted": p.be_promoted,
            "pyramid_steps": p.pyramid_steps, "ladder_steps": p.ladder_steps}


def _position_intents(symbol: str, pos: Position, step: PositionStep, filters: MarketFilters,
                      close: float) -> list[OrderIntent]:
    """What a held position's bar asks of the exchange: the fills its standing orders made inside the bar
    (EXIT / PARTIAL_EXIT), pyramid adds, a market exit, and the stop to stand for the next bar when it
    moved or the quantity it covers changed."""
    intents = []
    for fill in step.exits:
        kind = IntentKind.EXIT if step.position is None and fill is step.exits[-1] else IntentKind.PARTIAL_EXIT
        intents.append(OrderIntent(symbol, kind, pos.side, round_down(fill.qty, filters.step_size), fill.price,
                                   reduce_only=True, reason=fill.reason.value))
    for add in step.adds:
        intents.append(OrderIntent(symbol, IntentKind.ADD, pos.side, round_down(add.qty, filters.step_size), add.price,
                                   reason=f"pyramid_level_{add.level}"))
    if step.close_reason is not None:
        intents.append(OrderIntent(symbol, IntentKind.EXIT, pos.side, round_down(step.position.qty, filters.step_size),
                                   close, reduce_only=True,
                                   reason=step.close_reason.value))
    elif step.position is not None and (step.stop_moved or step.adds or step.exits):
        new = step.position
        reason = "break_even" if new.be_promoted and not pos.be_promoted else "trail" if step.stop_moved else "quantity"
        intents.append(OrderIntent(symbol, IntentKind.STOP, pos.side, round_down(new.qty, filters.step_size),
                                   new.stop, stop_price=round_price(new.stop, filters), reduce_only=True, reason=reason))
    return intents


def decide(symbol: str, ctx: Context, signal: Signal, account: Account, params: RiskParams,
           strategy: str = "autobot") -> Decision:
    """The decision for one closed bar of one symbol (compiled: :func:`autobot_lib.risk.kernel.decide_bar`).

    ``account.positions`` are the positions held after this bar's fills inside it, with the entries
    already decided on this bar (they count toward MAX_POSITIONS); ``symbol``'s own position is the one
    held into the bar."""
    bar, filters = ctx.bar, ctx.filters
    position = account.position(symbol)
    upper, lower = ctx.exit_channel if ctx.exit_channel is not None else (math.nan, math.nan)
    exits, adds = step_buffers(params)
    side = signal.proposal.side
    held_elsewhere = tuple(p for p in account.positions if p.symbol != symbol)
    margin_account = Account(account.equity, account.available, account.peak_equity, account.daily_anchor,
                             account.state, held_elsewhere)
    outcome, gate, vetoes, sized, size, state, n_exits, n_adds, moved, close_reason, closed = kernel.decide_bar(
        kernel.position_state(position), bar.open, bar.high, bar.low, bar.close, ctx.atr, ctx.adx, ctx.adx_prev,
        kernel.regime_code(ctx.regime), ctx.regime_age, upper, lower, signal.direction, side.sign if side else 0,
        account.equity, account.available, account.peak_equity, account.daily_anchor,
        kernel.TRADING_STATES[account.state], len(account.positions),
        correlated(symbol, margin_account, ctx.correlations, params.correlation_threshold), ctx.decided_at.value,
        kernel.market(filters), kernel.kernel_params(params), exits, adds)
    step = None if position is None else position_step_from(position, state, exits[:n_exits], adds[:n_adds], moved,
                                                             close_reason, closed)
    return decision_from(symbol, ctx, signal, params, strategy, int(outcome), int(gate), int(vetoes),
                         size_from(size, filters) if sized else None, position, step)


def decision_from(symbol: str, ctx: Context, signal: Signal, params: RiskParams, strategy: str, outcome: int,
                  gate_mask: int, veto_mask: int, size: Size | None, position: Position | None,
                  step: PositionStep | None) -> Decision:
    """The kernel's decision as order intents and a journal record."""
    bar = ctx.bar
    gate = kernel.reasons(gate_mask, kernel.GATE_ORDER)
    vetoes = kernel.reasons(veto_mask, kernel.VETO_ORDER)
    intents: list[OrderIntent] = []
    if step is not None:
        intents = _position_intents(symbol, position, step, ctx.filters, bar.close)
    elif outcome == kernel.ORDER:
        intents = [_entry_intent(symbol, signal.proposal.side, bar.close, ctx, size, params, signal)]
    label = kernel.OUTCOMES[outcome]
    if outcome == kernel.GATE:
        label = f"gate:{gate[0]}"
    elif outcome == kernel.VETO:
        label = f"veto:{vetoes[0]}"
    elif outcome == kernel.SIZE:
        label = f"size:{size.reason.value}"
    rec = record(
        timestamp=bar.timestamp.isoformat(), symbol=symbol, strategy=strategy, outcome=label, close=bar.close,
        regime=ctx.regime, regime_age=ctx.regime_age, bias=signal.bias, confidence=signal.confidence,
        direction=signal.direction, proposal=signal.proposal.value,
        rules_hit=[{"rule": n, "bias": b, "weight": w} for n, b, w in signal.rules_hit],
        features={**signal.features, "atr": ctx.atr, "adx": ctx.adx, "adx_prev": ctx.adx_prev},
        gate=list(gate), vetoes=list(vetoes),
        size=None if size is None else {"qty": str(size.qty), "notional": size.notional, "risk": size.risk_amount,
                                        "stop_distance": size.stop_distance, "capped_by": size.capped_by,
                                        "reason": size.reason.value if size.reason else None},
        intents=[i.to_dict() for i in intents],
        position=_position_dict(step.position if step else None),
        exits=[{"reason": e.reason.value, "qty": e.qty, "price": e.price} for e in (step.exits if step else ())]
        + ([{"reason": step.close_reason.value, "qty": step.position.qty, "price": None}]
           if step and step.close_reason else []),
    )
    return Decision(rec, tuple(intents), step)


def _entry_intent(symbol: str, side: Side, price: float, ctx: Context, size: Size, params: RiskParams,
                  signal: Signal) -> OrderIntent:
    """The market entry; its stop and target as they would stand if it filled at ``price`` (the decided
    close): :func:`open_position` sets them from the real fill."""
    stop = initial_stop(side, price, ctx.atr, params, ctx.filters)
    target = take_profit_price(side, price, size.stop_distance, params, ctx.filters)
    rules = ",".join(name for name, _, _ in signal.rules_hit)
    return OrderIntent(symbol, IntentKind.ENTRY, side, size.qty, price, stop_price=round_price(stop, ctx.filters),
                       take_profit=None if target is None else round_price(target, ctx.filters), reason=rules)


def open_position(intent: OrderIntent, fill_price: float, atr: float, opened_at: pd.Timestamp,
                  params: RiskParams, filters: MarketFilters = MarketFilters()) -> Position:
    """The position an ENTRY intent becomes once filled at ``fill_price``: the backtester's loop opens its
    positions with the same function (:func:`autobot_lib.risk.kernel.opened`)."""
    state = kernel.opened(intent.side.sign, float(intent.qty), float(fill_price), float(atr),
                          kernel.kernel_params(params), kernel.market(filters))
    return Position(intent.symbol, intent.side, state.qty, state.entry, state.stop,
                    None if state.take_profit != state.take_profit else state.take_profit, state.risk_per_unit,
                    state.atr_at_entry, opened_at, state.initial_qty)


# --- a whole history, flat ---------------------------------------------------------------------------

def journal_history(bars: pd.DataFrame, symbol: str, plan, *, equity: float = 10_000.0,
                    filters: MarketFilters = MarketFilters(), start: pd.Timestamp | str | None = None) -> list[JournalRecord]:
    """One record per bar from ``start``, every bar decided from a flat account of ``equity`` by ``plan``
    (:class:`autobot_lib.plan.Plan`): what the pipeline would do on each bar (the backtester adds
    positions and fills)."""
    features = build_features(bars, plan.features, plan.regime)
    strategy = plan.strategy
    evaluation = strategy.evaluate(features)
    params = plan.risk
    account = Account(equity, equity, equity, equity)
    recorded = recorded_columns(strategy)
    first = 0 if start is None else int(features.index.searchsorted(to_utc(start)))
    bar_length = timeframe_delta(bars.attrs.get("timeframe") or infer_timeframe(bars.index))
    values = features[recorded].to_numpy(dtype=np.float64)
    rows = features.to_dict("records")
    out = []
    for i in range(first, len(features)):
        ctx = Context.from_row(features.index[i], rows[i], bar_length, filters, exit_channel=params.exit_channel)
        signal = evaluation.signal(i, dict(zip(recorded, values[i].tolist())))
        out.append(decide(symbol, ctx, signal, account, params, strategy.name).record)
    return out
