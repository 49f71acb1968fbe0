"""The backtest journal, built from columns, is exactly the frame the per-record path builds.

``run_backtest`` materialises its journal from the loop's arrays column by column (issue 13: the
per-bar :func:`~autobot_lib.pipeline.decision_from` path took seconds). The reference below is that
per-record path, kept here as the oracle: every bar rebuilt as a :class:`Context`, :class:`Signal`,
:class:`Size`, :class:`Position` and :class:`PositionStep` and turned into a record by the function
:func:`~autobot_lib.pipeline.decide` ends with. The two must agree to the type of every value inside the
records (Python floats, ints and bools, None for NaN, the exact decimal strings of prices and quantities).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from conftest import real, real_funding

from autobot_lib.backtest import engine, loop, run_backtest
from autobot_lib.config import load_settings
from autobot_lib.journal import journal_frame
from autobot_lib.model import Position, Side
from autobot_lib.pipeline import Context, decision_from
from autobot_lib.risk import kernel
from autobot_lib.risk.exits import position_step_from
from autobot_lib.risk.sizing import round_down, size_from

# --- the reference: one record per decided bar through decision_from ---------------------------------

class _Row:
    def __init__(self, columns, i):
        self.columns, self.i = columns, i

    def __getitem__(self, name):
        return self.columns[name][self.i]


def _position(symbol, state):
    sign, qty, entry, stop, tp, rpu, atr, initial, bars_held, be, pyramid, ladder, first = state.tolist()
    return Position(symbol, Side.LONG if sign > 0 else Side.SHORT, qty, entry, stop, None if math.isnan(tp) else tp, rpu, atr,
                    pd.NaT, initial, int(bars_held), bool(be), int(pyramid), int(ladder), first)


def _record(sym, strategy, params, bar_length, i, ints, floats, events):
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
        step = position_step_from(position, after, events[first:first + n_exits],
                                  events[first + n_exits:first + n_exits + n_adds], moved, close_reason, closed)
    return decision_from(sym.name, ctx, signal, params, strategy, outcome, gate, vetoes, size, position, step)


def reference_journal(symbols, strategy, params, bar_length, ji, jf, events, start, timeline) -> pd.DataFrame:
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
        lowest = lambda mask: np.log2(np.maximum(mask & -mask, 1)).astype(int)
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


# --- strict equality ----------------------------------------------------------------------------------

def _same(a, b) -> bool:
    """Equal values of the same exact types, all the way down (1 == 1.0 == np.float64(1) is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def assert_same_journal(fast: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(fast.columns) == list(ref.columns)
    assert fast.dtypes.to_dict() == ref.dtypes.to_dict()
    pd.testing.assert_frame_equal(fast, ref)
    for column in ref.columns:
        if ref[column].dtype == object:
            bad = [i for i, (a, b) in enumerate(zip(fast[column].tolist(), ref[column].tolist())) if not _same(a, b)]
            assert not bad, f"{column}: {len(bad)} rows differ, first at {bad[0]}: {fast[column].iloc[bad[0]]!r} " \
                            f"vs {ref[column].iloc[bad[0]]!r}"


def _check(result) -> pd.DataFrame:
    fast = result.journal
    assert_same_journal(fast, reference_journal(*result._journal.args))
    return fast


BTC, ETH = "binance_usdm_BTCUSDT_1h.csv.gz", "binance_usdm_ETHUSDT_1h.csv.gz"


def _bars(name, last=None):
    frame = real(name)
    return frame if last is None else frame.iloc[-last:]


def test_plain_donchian_journal_matches_the_record_path():
    """The benchmark's run (bench/backtest.py): a position on most bars, a trailing STOP on many."""
    from bench.peers import plain_donchian_settings

    journal = _check(run_backtest(_bars(BTC, 15_000), plain_donchian_settings(), equity=1e6))
    kinds = {d["kind"] for intents in journal["intents"].dropna() for d in intents}
    assert {"ENTRY", "EXIT", "STOP"} <= kinds


def test_default_autobot_journal_matches_the_record_path():
    journal = _check(run_backtest(_bars(BTC), load_settings(env_file=None, config_json=None)))
    assert journal["outcome"].str.startswith("veto:").any() or journal["outcome"].str.startswith("gate:").any()


@pytest.mark.parametrize("overrides", [
    {"STRATEGY": "donchian"},
    {"TP_LADDER": [(1.0, 0.5), (2.0, 0.3)], "ENABLE_PYRAMIDING": True, "MAX_POSITIONS": 2},
], ids=["donchian-pyramids", "autobot-ladder-pyramids"])
def test_two_symbols_with_funding_and_a_trade_start_match_the_record_path(overrides):
    """A shared account (gates and vetoes across symbols), funding, warm-up bars before ``trade_from``,
    partial exits of a take-profit ladder and pyramid adds."""
    bars = {"BTCUSDT": _bars(BTC, 12_000), "ETHUSDT": _bars(ETH, 11_000)}
    funding = {"BTCUSDT": real_funding("binance_usdm_BTCUSDT_funding.csv.gz"),
               "ETHUSDT": real_funding("binance_usdm_ETHUSDT_funding.csv.gz")}
    settings = load_settings(env_file=None, config_json=None, **overrides)
    start = bars["BTCUSDT"].index[2_000]
    journal = _check(run_backtest(bars, settings, funding=funding, trade_from=start))
    assert set(journal["symbol"]) == {"BTCUSDT", "ETHUSDT"} and journal["timestamp"].min() >= start
    kinds = {d["kind"] for intents in journal["intents"].dropna() for d in intents}
    assert "ADD" in kinds
    if "TP_LADDER" in overrides:
        assert "PARTIAL_EXIT" in kinds


def test_a_symbol_that_never_decides_leaves_its_detail_columns_missing():
    """Only warm-up bars: no records, so no detail columns, exactly as before."""
    result = run_backtest(_bars(BTC, 30), load_settings(env_file=None, config_json=None))
    _check(result)


@pytest.mark.parametrize("step", ["0.01", "0.001", "0.1", "1", "0.00001", "10", "0.5", "0.0025"])
def test_decimal_strings_are_round_downs(step):
    """The journal's decimal strings of prices and quantities are ``str(round_down(v, step))``, including
    off the grid, at the notation's edges (1E+4, 1E-7), negative, zero, huge, NaN and infinite."""
    step = Decimal(step)
    rng = np.random.default_rng(13)
    grid = (rng.integers(-10**7, 10**7, 2_000) * float(step)).tolist()       # k * step in floats: near the grid
    values = [*grid, *(rng.uniform(-1e5, 1e5, 2_000)).tolist(), *(10.0 ** rng.uniform(-9, 16, 500)).tolist(),
              0.0, -0.0, 10000.0, 100.0, 1e-7, 0.1 + 0.2, 0.3, 2.675, 1e15, 1e15 - 0.01, 999999999999999.9, 1e16,
              1.7e308, -1.7e308, 5e-324, math.nan, math.inf, -math.inf, 12345.678, 0.001, 0.0005, 19.99]
    text = engine._decimal_text(step)
    for v in values:
        try:
            want = str(round_down(v, step))
        except (ArithmeticError, ValueError) as exc:     # infinities: round_down cannot, neither may we
            with pytest.raises(type(exc)):
                text(v)
            continue
        assert text(v) == want, v
