"""The compiled decision step: whole-step quantities equal Decimal rounding, reasons decode in check
order (the reason enums are the kernel's bit order), a position keeps one layout as a float row, and
numba's cache is dropped when the code the loop inlines changes."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from autobot_lib import _numba_cache
from autobot_lib.model import MarketFilters
from autobot_lib.risk import RiskParams, round_down, size_position
from autobot_lib.risk import kernel, reasons
from autobot_lib.risk.reasons import Cap, ExitReason, GateReason, Outcome, SizeReason, Veto


@pytest.mark.parametrize("step", ["0.001", "0.01", "1", "0.1", "0.00001", "10", "0.5", "0.25"])
def test_whole_steps_equal_decimal_rounding(step):
    """floor_units counts steps as Decimal(str(value)) / step rounded down does, for 20,000 sizes of the
    kind sizing produces (risk / stop distance) and for exact multiples, which float division may put a
    hair below a whole step (0.3 / 0.1 = 2.9999999999999996)."""
    rng = np.random.default_rng(7)
    d = Decimal(step)
    size = float(d)
    scale = kernel.step_scale(size)
    values = np.concatenate([rng.uniform(0, 1000, 10_000) * size,
                             [float(Decimal(int(k)) * d) for k in rng.integers(0, 100_000, 10_000)]])
    for value in values.tolist():
        units = kernel.floor_units(value, size, scale)
        expected = (Decimal(str(value)) / d).to_integral_value(rounding="ROUND_DOWN")
        assert units == int(expected), (value, step)
        qty = kernel.units_to_qty(units, size, scale)
        assert qty == float(round_down(value, d)), (value, step)


def test_sized_quantity_is_what_is_sent():
    filters = MarketFilters.of("0.1", "0.001", "0.001", "5")
    size = size_position(10_000.0, 64_123.4, 812.7, RiskParams(max_position_value_ratio=10.0), filters)
    # 100 risk / (1.5 x 812.7) = 0.08203..., toward zero to 0.001
    assert size.qty == Decimal("0.082") and size.notional == pytest.approx(0.082 * 64_123.4, rel=1e-15)


def test_reasons_decode_in_check_order():
    assert kernel.reasons(0, kernel.GATE_ORDER) == ()
    assert kernel.reasons(1 | 4, kernel.GATE_ORDER) == ("long_disabled", "no_regime")
    assert kernel.reasons(8 | 256 | 2048, kernel.VETO_ORDER) == ("max_positions", "volatility", "insufficient_margin")


def test_the_reason_enums_are_the_kernels_order():
    """The kernel's name tuples, codes and mask bits are the enums' order, member by member."""
    for kind, order, prefix in ((GateReason, kernel.GATE_ORDER, "G_"), (Veto, kernel.VETO_ORDER, "V_")):
        assert order == tuple(r.value for r in kind)
        for i, r in enumerate(kind):
            assert getattr(kernel, prefix + r.name) == 1 << i == reasons.bit(r), r
    for kind, order in ((SizeReason, kernel.SIZE_REASONS), (Outcome, kernel.OUTCOMES), (Cap, kernel.CAPS)):
        assert order == tuple(r.value for r in kind)
    for i, r in enumerate(SizeReason):
        assert getattr(kernel, r.name) == i
    for i, r in enumerate(Outcome):
        assert getattr(kernel, r.name) == i
    assert (kernel.CAP_VALUE, kernel.CAP_LEVERAGE, kernel.CAP_POSITION) == tuple(reasons.code(c) for c in Cap)
    assert kernel.EXIT_REASONS == tuple(ExitReason)
    exits = {ExitReason.MAX_HOLDING_TIME: kernel.MAX_HOLDING, ExitReason.MANUAL_CLOSE: None}
    for i, r in enumerate(ExitReason):
        assert exits.get(r, getattr(kernel, r.name, None)) in (i, None), r


P = RiskParams()
KP = kernel.kernel_params(P)


def test_every_reason_the_kernel_sets_decodes_to_a_name():
    """Drive each check to fire and decode what comes back: every bit set is a member, and every member is a
    bit some input sets."""
    def gate(sign, regime, age, **params):
        return kernel.gate_mask(sign, 10.0, 60.0, regime, age, kernel.kernel_params(RiskParams(**params)))

    gate_bits = gate(1, 0.0, 0, allow_long=False) | gate(-1, 1.0, 5, allow_short=False) | gate(1, math.nan, 5)
    assert reasons.decode(gate_bits, GateReason) == tuple(GateReason)
    funding = pd.Timestamp("2025-03-03 07:58", tz="UTC").value
    pre = [kernel.pre_trade_mask(state, True, 5, 80.0, 100.0, 100.0, funding, True, 10.0, 100.0, KP)
           for state in (kernel.HALTED, kernel.REDUCING)]
    order = kernel.order_mask(3.0, 0.0, 0.0, kernel.kernel_params(RiskParams(max_position_value_ratio=0.0001)))
    assert reasons.decode(pre[0] | pre[1] | order, Veto) == tuple(Veto)
    assert pre[0] | pre[1] | order == (1 << len(Veto)) - 1             # no bit beyond the enum
    btc = kernel.market(MarketFilters.of("0.10", "0.001", "0.001", "100"))
    coarse = kernel.market(MarketFilters.of("0.1", "0.0001", "0.002", "5"))
    codes = {kernel.size_units(equity, 60_000.0, atr, KP, m)[6] for equity, atr, m in (
        (10_000.0, 0.0, btc), (0.0, 100.0, btc), (100.0, 100.0, btc), (1_000.0, 100.0, coarse),
        (1_000.0, 100.0, btc))}
    assert [list(SizeReason)[c] for c in sorted(codes)] == list(SizeReason)


def test_a_position_row_keeps_every_field_in_its_slot():
    """The float row the backtest loop and its journal keep a position in: field i in slot i, and back."""
    pos = kernel.PositionState(-1, 0.5, 101.5, 104.0, math.nan, 2.0, 1.5, 0.7, 12, True, 1, 2, 100.0)
    row = np.zeros(kernel.POSITION_FIELDS)
    kernel.store_position(row, pos)
    assert tuple(kernel.SLOT) == tuple(range(kernel.POSITION_FIELDS))
    assert [row[getattr(kernel.SLOT, f)] for f in pos._fields][:4] == [-1.0, 0.5, 101.5, 104.0]
    back = kernel.position_from_row(row)
    assert back[:4] == pos[:4] and back[5:] == pos[5:] and math.isnan(back.take_profit)
    assert isinstance(back.be_promoted, (bool, np.bool_)) and int(back.bars_held) == 12


def test_stale_numba_cache_is_dropped_when_a_dependency_changes(tmp_path):
    module, dependency = tmp_path / "loop.py", tmp_path / "kernel.py"
    module.write_text("x = 1\n")
    dependency.write_text("def f(): return 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    entries = [cache / "loop.simulate-10.py311.nbi", cache / "loop.simulate-10.py311.1.nbc"]
    other = cache / "kernel.f-1.py311.nbi"
    for path in (*entries, other):
        path.write_bytes(b"machine code")
    _numba_cache.drop_stale(str(module), str(dependency))       # no stamp yet: cannot vouch for them
    assert not any(p.exists() for p in entries) and other.exists()
    for path in entries:
        path.write_bytes(b"machine code")
    _numba_cache.drop_stale(str(module), str(dependency))       # unchanged: kept
    assert all(p.exists() for p in entries)
    dependency.write_text("def f(): return 2\n")
    _numba_cache.drop_stale(str(module), str(dependency))       # changed: dropped
    assert not any(p.exists() for p in entries) and other.exists()
