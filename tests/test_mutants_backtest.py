"""The backtester's cost formulas, by hand (mutation testing, ``make mutate``: the mutants of
autobot_lib/backtest/costs.py must fail here or in tests/test_backtest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from autobot_lib.backtest.costs import (
    CostModel, cost_model, funding_paid, funding_payment, liquidation_level, liquidation_price, slipped_price,
)
from autobot_lib.config import load_settings
from autobot_lib.model import Side

NAN = float("nan")


@pytest.mark.parametrize("sign, opening, expected", [
    (1, True, 100.21), (1, False, 99.79), (-1, True, 99.79), (-1, False, 100.21),
])
def test_slippage_is_against_the_trader(sign, opening, expected):
    # 1 bp of 100 = 0.01, plus 0.1 x ATR 2 = 0.2
    assert slipped_price(sign, 100.0, 2.0, opening, 1.0, 0.1) == pytest.approx(expected, abs=1e-12)


def test_slippage_without_a_volatility_is_the_bps_alone():
    assert slipped_price(1, 200.0, NAN, True, 5.0, 0.5) == pytest.approx(200.1, abs=1e-12)     # 5 bp of 200
    assert slipped_price(1, 200.0, 4.0, True, 0.0, 0.0) == 200.0
    model = CostModel(slippage_bps=10.0, slippage_atr=0.25)
    assert model.slipped(Side.SHORT, 50.0, 2.0, False) == pytest.approx(50.0 + 0.05 + 0.5, abs=1e-12)
    assert model.slipped(Side.LONG, 50.0, 2.0, False) == pytest.approx(50.0 - 0.55, abs=1e-12)


@pytest.mark.parametrize("side, leverage, mmr, expected", [
    (Side.LONG, 10, 0.004, 100 * 0.9 / 0.996),        # 90.3614...
    (Side.SHORT, 10, 0.004, 100 * 1.1 / 1.004),       # 109.5617...
    (Side.LONG, 20, 0.0, 95.0), (Side.SHORT, 20, 0.0, 105.0), (Side.LONG, 1, 0.01, 0.0),
    (Side.SHORT, 4, 0.02, 125.0 / 1.02),
])
def test_isolated_liquidation_price(side, leverage, mmr, expected):
    assert liquidation_price(side, 100.0, leverage, mmr) == pytest.approx(expected, rel=1e-15, abs=1e-12)
    assert liquidation_level(side.sign, 100.0, leverage, mmr) == pytest.approx(expected, rel=1e-15, abs=1e-12)


def test_funding_longs_pay_a_positive_rate():
    assert funding_paid(1, 2.0, 100.0, 0.0001) == pytest.approx(0.02, abs=1e-15)
    assert funding_payment(Side.SHORT, 2.0, 100.0, 0.0001) == pytest.approx(-0.02, abs=1e-15)
    assert funding_payment(Side.LONG, 3.0, 50.0, -0.0002) == pytest.approx(-0.03, abs=1e-15)


def test_the_default_costs_are_binances_regular_tier():
    c = CostModel()
    assert (c.taker_fee, c.maker_fee, c.slippage_bps, c.slippage_atr, c.tp_as_maker, c.liquidation_fee,
            c.maintenance_margin_rate) == (0.0005, 0.0002, 1.0, 0.0, False, 0.0125, 0.004)


@pytest.mark.parametrize("name, value, ok", [
    ("taker_fee", 0.0, True), ("taker_fee", 0.999, True), ("taker_fee", 1.0, False), ("taker_fee", -1e-9, False),
    ("slippage_bps", 999.0, True), ("slippage_bps", 1000.0, False), ("slippage_bps", -0.5, False),
    ("slippage_atr", 0.5, True), ("slippage_atr", 1.0, False), ("liquidation_fee", 1.0, False),
    ("liquidation_fee", -0.01, False), ("maintenance_margin_rate", 1.0, False),
    ("maintenance_margin_rate", -0.1, False), ("maintenance_margin_rate", 0.5, True),
])
def test_cost_settings_are_checked(name, value, ok):
    if ok:
        assert getattr(CostModel(**{name: value}), name) == value
    else:
        with pytest.raises(ValueError, match=f"^{name} must be >= 0 \\(and a fraction below 1\\), got "):
            CostModel(**{name: value})


def test_a_backtest_charges_the_settings_costs():
    s = load_settings(env_file=None, TAKER_FEE=0.0007, MAKER_FEE=0.0001, SLIPPAGE_BPS=2.5, SLIPPAGE_ATR=0.1,
                      TP_AS_MAKER=True)
    assert cost_model(s) == CostModel(taker_fee=0.0007, maker_fee=0.0001, slippage_bps=2.5, slippage_atr=0.1,
                                      tp_as_maker=True)


def test_a_cost_model_is_a_frozen_value():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        CostModel().taker_fee = 0.0


def test_a_grid_whose_inverse_is_not_whole_still_holds_quantities_and_stops_on_it():
    """Steps and ticks like 0.003 / 0.3 take the division path of the grid arithmetic (1 / 0.003 is no whole
    number): every quantity is a whole number of steps and every stop sits on the tick grid."""
    from autobot_lib.backtest import run_backtest
    from autobot_lib.config import load_settings
    from autobot_lib.model import MarketFilters
    from conftest import real

    bars = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-3000:]
    odd = MarketFilters.of("0.3", "0.003", "0.003", "5")
    result = run_backtest(bars, load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0),
                          filters={"BTCUSDT": odd})
    trades = result.trades
    assert len(trades) >= 5
    for qty, stop in zip(trades["qty"], trades["initial_stop"]):
        assert qty > 0 and abs(qty / 0.003 - round(qty / 0.003)) < 1e-9, qty     # whole steps, to float precision
        assert abs(stop / 0.3 - round(stop / 0.3)) < 1e-9, stop


def _closes(*columns):
    c = np.array(columns, dtype=np.float64).T
    return c, np.ones(c.shape, dtype=np.bool_)


def test_the_correlation_window_starts_at_the_first_bar_and_the_threshold_is_inclusive():
    """The loop's correlation veto on its own: symbol 0 flat with a signal, symbol 1 held. Identical moves
    correlate exactly 1, which a threshold of 1 vetoes (>=). Early on, the window reaches back to bar 0:
    three closes give the two returns a correlation needs; from bar 1 on there would be one."""
    from autobot_lib.backtest import loop
    from autobot_lib.risk import kernel
    from autobot_lib.risk.params import RiskParams

    p = kernel.kernel_params(RiskParams(correlation_threshold=1.0, correlation_window=5))
    hp = np.zeros((2, kernel.POSITION_FIELDS))
    hp[1, kernel.SLOT.sign] = 1.0                                   # symbol 1 is held
    pend_kind, pend_bar = np.zeros(2, dtype=np.int64), np.full(2, -1, dtype=np.int64)
    c, has = _closes([100.0, 101.0, 99.0], [50.0, 50.5, 49.5])     # the same returns: +1 %, -1.98 %
    assert loop._correlated(2, 0, c, has, hp, pend_kind, pend_bar, p)
    assert not loop._correlated(1, 0, c, has, hp, pend_kind, pend_bar, p)      # one return: unknown
    hp[1, kernel.SLOT.sign] = 0.0
    assert not loop._correlated(2, 0, c, has, hp, pend_kind, pend_bar, p)      # nothing held
    pend_kind[1], pend_bar[1] = 1, 2                                # an entry decided on this bar counts
    assert loop._correlated(2, 0, c, has, hp, pend_kind, pend_bar, p)
    pend_bar[1] = 1                                                 # ... one of an earlier bar does not
    assert not loop._correlated(2, 0, c, has, hp, pend_kind, pend_bar, p)
