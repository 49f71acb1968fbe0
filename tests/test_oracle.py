"""The engine against an independent oracle, on real Binance USD-M data.

``tests/oracle_backtest.py`` is a plain-Python backtester written from the seeds and docs/fill-model.md that
imports nothing from autobot_lib. Each case runs both on the same real bars, funding and filters and
compares every decision (bar by bar and symbol by symbol: the outcome, the fills inside the bar, the
market exits and pyramid adds sent at its close), every trade (side, quantity, times, prices, fees,
funding, PnL, R, excursions, bars held, exit reason, rules, regime) and the account at every close
(equity, balance, margin, drawdown, halted). Each case also asserts that it exercises what it is there
for (liquidations happen, ladder levels fill, the halt halts ...), and each planted fault of the oracle
must make some case fail, so the comparison is known to be able to fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import pandas as pd
import pytest

from autobot_lib.backtest import run_backtest
from autobot_lib.config import load_settings
from autobot_lib.model import MarketFilters
from conftest import real, real_funding
from oracle_backtest import FAULTS, oracle_backtest

REL = 1e-9          # prices, quantities and money: to 1e-9 relative (most agree exactly)
BTC, ETH, SOL = "BTCUSDT", "ETHUSDT", "SOLUSDT"
FILTERS = {BTC: MarketFilters.of("0.1", "0.001", "0.001", "100"), ETH: MarketFilters.of("0.01", "0.001", "0.001", "20")}
UNDER_1_USDT = MarketFilters.of("0.00001", "1", "1", "5")          # a coin like DOGE: whole units, 5 decimals


@dataclass(frozen=True)
class Case:
    bars: tuple[tuple[str, int | None, int | None], ...]     # (symbol, first row, end row) of the real 1h file
    settings: dict[str, Any]
    funding: bool = True
    filters: bool = False
    equity: float = 10_000.0
    trade_from: int | None = None                           # row of the timeline trading starts at
    scale: float = 1.0                                      # prices divided by this (a coin priced under 1 USDT)


CASES = {
    # AUTOBOT on BTC with funding: stop, trail, break-even, take profit, regime change and time exits
    "autobot_funding": Case(((BTC, -3000, None),), dict(ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0,
                                                         MAX_HOLDING_BARS=24, TAKE_PROFIT_MULTIPLIER=3.0,
                                                         TRAIL_ATR_MULTIPLIER=2.0)),
    # the Donchian bot on ETH: Turtle 20/10 with the exit channel, pyramiding, the funding window
    "donchian_exit_channel_pyramid": Case(((ETH, -3000, None),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"use_exit_channel": True, "funding_avoid_min": 60})),
    # AUTOBOT with a take-profit ladder resting as maker orders, ATR slippage, pyramiding, ETH's filters
    "autobot_ladder_maker_atr_slippage": Case(((ETH, -6000, -3000),), dict(
        ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0, TP_LADDER=[[1.0, 0.3], [1.5, 0.3], [2.5, 0.4]], TP_AS_MAKER=True,
        SLIPPAGE_ATR=0.05, SLIPPAGE_BPS=2.0, ENABLE_PYRAMIDING=True, PYRAMID_LEVELS=[[1.0, 0.5]],
        MAX_POSITION_VALUE_RATIO=0.3, BREAK_EVEN_R=0.8), filters=True),
    # two symbols over different spans on one account: both held at once, the margin shared between pyramid
    # adds (the held symbol decides first) and entries
    # (the correlation veto off: BTC and ETH move together)
    "two_symbols_shared_account": Case(((BTC, -3000, -400), (ETH, -2600, None)), dict(
        ACTIVATION_THRESHOLD=0.4, MAX_POSITIONS=2, MAX_DRAWDOWN=1.0, LEVERAGE=2, MAX_POSITION_VALUE_RATIO=1.1,
        CORRELATION_THRESHOLD=1.0,
        ENABLE_PYRAMIDING=True, PYRAMID_LEVELS=[[1.0, 0.5], [2.0, 0.5]]), filters=True),
    # the Donchian bot on three symbols: the correlation veto against positions held and entries decided on
    # the same bar, over a short window; the volatility threshold low enough to fire
    "correlated_symbols": Case(((BTC, -3000, None), (ETH, -3000, None), (SOL, -3000, None)), dict(
        STRATEGY="donchian", MAX_POSITIONS=3, MAX_DRAWDOWN=1.0, CORRELATION_THRESHOLD=0.8, CORRELATION_WINDOW=48,
        VOLATILITY_MAX_ATR_PCT=0.012)),
    "two_symbols_max_positions_1": Case(((BTC, -3000, -400), (ETH, -2600, None)), dict(
        ACTIVATION_THRESHOLD=0.4, MAX_POSITIONS=1, MAX_DRAWDOWN=1.0), filters=True),
    # the Donchian bot at 20x with a stop wider than the liquidation distance: isolated positions liquidate
    # (and its own section's time and regime-change exits, off by default, on here; break-even off)
    "donchian_20x_liquidation": Case(((BTC, -3000, None),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={
            "leverage": 20, "atr_stop_k": 8.0, "atr_trail_k": 12.0, "daily_loss_limit": 1.0, "break_even_r": 0,
            "max_holding_bars": 48, "exit_on_regime_change": True})),
    # March 2020 on BTC, at 20x. With the default stop inside the liquidation distance, bars that fall
    # through both fill the stop, unless they open beyond the liquidation price. With a stop wider than that
    # distance and adds early, a liquidation follows adds (the level moves with the average entry)
    "donchian_20x_crash": Case(((BTC, 3500, 6500),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"leverage": 20, "daily_loss_limit": 1.0})),
    "donchian_20x_crash_under_1_usdt": Case(((BTC, 3500, 6500),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"leverage": 20, "daily_loss_limit": 1.0}),
        filters=True, scale=20_000.0),
    "donchian_20x_pyramid_liquidation": Case(((BTC, 3500, 6500),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={
            "leverage": 20, "atr_stop_k": 8.0, "atr_trail_k": 12.0, "daily_loss_limit": 1.0, "break_even_r": 0,
            "pyramid_levels": [[0.3, 0.5]]})),
    "donchian_20x_pyramid_liquidation_under_1_usdt": Case(((BTC, 3500, 6500),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={
            "leverage": 20, "atr_stop_k": 8.0, "atr_trail_k": 12.0, "daily_loss_limit": 1.0, "break_even_r": 0,
            "pyramid_levels": [[0.3, 0.5]]}), filters=True, scale=20_000.0),
    # bars before trade_from only warm the indicators up
    "autobot_trade_from": Case(((BTC, -4000, None),), dict(ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0),
                               trade_from=1000),
    "warmup_only": Case(((BTC, -27, None),), dict(ACTIVATION_THRESHOLD=0.4)),
    # AUTOBOT on SOL, whose closes sometimes repeat exactly in a trend: "rsi > prev(rsi)" must read no rise
    "autobot_sol_unchanged_closes": Case(((SOL, -3000, None),), dict(ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0)),
    # a small account and a low threshold: sizes below the market's minimums, shorts switched off, longs
    # against the regime, ADX falling from 30, the drawdown veto
    "small_account": Case(((BTC, -3000, None),), dict(
        ACTIVATION_THRESHOLD=0.05, MAX_DRAWDOWN=0.05, MAX_POSITION_VALUE_RATIO=1.0, ALLOW_SHORT=False,
        ADX_FALLING_FROM=30, ADX_FALLING_THRESHOLD=0.03), funding=False, filters=True, equity=150.0),
    # the daily loss limit halts; BACKTEST_HALT_REARM re-arms at the next UTC day, or never
    "daily_loss_halt_next_day": Case(((BTC, -4000, None),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"daily_loss_limit": 0.02, "risk_pct": 0.02})),
    "daily_loss_halt_never": Case(((BTC, -4000, None),), dict(
        STRATEGY="donchian", MAX_DRAWDOWN=1.0, BACKTEST_HALT_REARM="never",
        donchian={"daily_loss_limit": 0.02, "risk_pct": 0.02})),
}


def _inputs(name: str) -> tuple[dict, Any, dict]:
    case = CASES[name]
    bars = {s: real(f"binance_usdm_{s}_1h.csv.gz").iloc[a:b] for s, a, b in case.bars}
    if case.scale != 1.0:       # the same moves at a price under 1 USDT: distances in price are fractions of one
        bars = {s: frame.assign(**{c: frame[c] / case.scale for c in ("open", "high", "low", "close")})
                for s, frame in bars.items()}
    settings = load_settings(env_file=None, config_json=None, **case.settings)
    kwargs: dict[str, Any] = dict(equity=case.equity)
    if case.funding:
        kwargs["funding"] = {s: real_funding(f"binance_usdm_{s}_funding.csv.gz") for s in bars}
    if case.filters:
        kwargs["filters"] = {s: FILTERS[s] if case.scale == 1.0 else UNDER_1_USDT for s in bars}
    if case.trade_from is not None:
        timeline = sorted(set().union(*(frame.index for frame in bars.values())))
        kwargs["trade_from"] = timeline[case.trade_from]
    return bars, settings, kwargs


@lru_cache(maxsize=None)
def engine(name: str):
    bars, settings, kwargs = _inputs(name)
    return run_backtest(bars, settings, **kwargs)


@lru_cache(maxsize=None)
def oracle(name: str, faults: frozenset[str] = frozenset(), **options):
    bars, settings, kwargs = _inputs(name)
    return oracle_backtest(bars, settings, curve=True, faults=faults, **options, **kwargs)


# --- the comparison ------------------------------------------------------------------------------------

def _close(a: Any, b: Any, rel: float = REL, floor: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= max(rel * max(abs(a), abs(b)), floor)


def _engine_fills(journal: pd.DataFrame) -> tuple[list, list]:
    """The journal's fills inside each bar and market exits, and the pyramid adds, as the oracle lists them."""
    exits, adds = [], []
    none = pd.Series([None] * len(journal), index=journal.index, dtype=object)
    for ex, intents in zip(journal.get("exits", none), journal.get("intents", none)):
        exits.append(tuple((e["reason"], e["qty"], e["price"]) for e in ex) if isinstance(ex, list) else ())
        adds.append(tuple((float(i["qty"]), i["price"], int(i["reason"].rsplit("_", 1)[1]))
                          for i in intents if i["kind"] == "ADD") if isinstance(intents, list) else ())
    return exits, adds


TRADE_EXACT = ("symbol", "side", "entry_time", "exit_time", "bars_held", "exit_reason", "entry_rules", "entry_regime")
TRADE_CLOSE = ("qty", "entry_price", "initial_stop", "exit_price", "notional", "fees", "funding", "pnl", "r_multiple",
               "mae_r", "mfe_r")


def differences(result, expected, limit: int = 12) -> list[str]:
    """Where the engine's ``result`` and the oracle's ``expected`` (trades, curve, decisions) differ."""
    trades, curve, decisions = expected
    out: list[str] = []
    # every decision, with what it filled and sent
    journal = result.journal.reset_index(drop=True)
    if len(journal) != len(decisions):
        out.append(f"decisions: engine {len(journal)} rows, oracle {len(decisions)}")
    else:
        eng_exits, eng_adds = _engine_fills(journal)
        rows = zip(journal["timestamp"], journal["symbol"], journal["outcome"], eng_exits, eng_adds,
                   decisions["timestamp"], decisions["symbol"], decisions["outcome"], decisions["exits"],
                   decisions["adds"])
        for k, (jt, js, jo, je, ja, t, sym, outcome, exits, adds) in enumerate(rows):
            where = f"{t} {sym}"
            if jt != t or js != sym:
                out.append(f"decision row {k}: engine {jt} {js}, oracle {where}")
            elif jo != outcome:
                out.append(f"decision {where}: engine {jo!r}, oracle {outcome!r}")
            else:
                if len(je) != len(exits) or not all(a[0] == b[0] and _close(a[1], b[1]) and _close(a[2], b[2])
                                                    for a, b in zip(je, exits)):
                    out.append(f"exits {where}: engine {je}, oracle {exits}")
                if len(ja) != len(adds) or not all(_close(a[0], b[0]) and _close(a[1], b[1]) and a[2] == b[2]
                                                   for a, b in zip(ja, adds)):
                    out.append(f"adds {where}: engine {ja}, oracle {adds}")
            if len(out) >= limit:
                return out
    # every trade
    a = result.trades.sort_values(["symbol", "entry_time"], kind="stable").reset_index(drop=True)
    b = trades.sort_values(["symbol", "entry_time"], kind="stable").reset_index(drop=True)
    if len(a) != len(b):
        out.append(f"trades: engine {len(a)}, oracle {len(b)}")
    for k in range(min(len(a), len(b))):
        bad = [f"{c} {a.at[k, c]!r} vs {b.at[k, c]!r}" for c in TRADE_EXACT if a.at[k, c] != b.at[k, c]]
        bad += [f"{c} {a.at[k, c]!r} vs {b.at[k, c]!r}" for c in TRADE_CLOSE if not _close(a.at[k, c], b.at[k, c])]
        if bad:
            out.append(f"trade {a.at[k, 'symbol']} entered {b.at[k, 'entry_time']}: " + "; ".join(bad))
        if len(out) >= limit:
            return out
    # the account at every close
    eq = result.equity
    if not eq.index.equals(curve.index):
        out.append(f"equity curve: engine {len(eq)} bars from {eq.index[:1].tolist()}, oracle {len(curve)} from "
                   f"{curve.index[:1].tolist()}")
        return out
    for column in ("equity", "balance", "margin", "drawdown", "halted"):
        for t, x, y in zip(eq.index, eq[column], curve[column]):
            if not (x == y if column == "halted" else _close(x, y, floor=1e-9 * result.initial_equity)):
                out.append(f"{column} at {t}: engine {x!r}, oracle {y!r}")
                break
    return out[:limit]


# --- the cases ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CASES))
def test_engine_matches_the_oracle(name):
    diffs = differences(engine(name), oracle(name))
    assert not diffs, f"{name}: the engine and the oracle differ:\n  " + "\n  ".join(diffs)


def _count(journal: pd.DataFrame, outcome: str) -> int:
    return int((journal["outcome"] == outcome).sum())


def _fills(journal: pd.DataFrame, reason: str) -> int:
    exits, _ = _engine_fills(journal)
    return sum(1 for row in exits for e in row if e[0] == reason)


def _adds(journal: pd.DataFrame) -> int:
    return sum(len(row) for row in _engine_fills(journal)[1])


def _exits(result) -> set[str]:
    return set(result.trades["exit_reason"])


def _check_autobot_funding(r, o):
    assert {"stop_loss", "trailing_stop", "break_even_stop", "take_profit", "regime_change",
            "max_holding_time"} <= _exits(r)
    assert (r.trades["funding"] > 0).any() and (r.trades["funding"] < 0).any()   # paid and received
    for outcome in ("order", "in_position", "neutral", "below_threshold", "warmup", "gate:adx_too_low",
                    "gate:trend_unstable"):
        assert _count(r.journal, outcome) > 0, outcome


def _check_donchian(r, o):
    assert {"exit_channel", "trailing_stop", "stop_loss", "break_even_stop"} <= _exits(r)
    assert not {"regime_change", "max_holding_time"} & _exits(r)      # not the Donchian bot's unless it says so
    assert _adds(r.journal) > 0 and (r.trades["qty"] > r.trades["notional"] / r.trades["entry_price"] - 1e-12).all()
    assert _count(r.journal, "veto:funding_window") > 0
    assert r.trades["funding"].abs().sum() > 0


def _check_ladder(r, o):
    assert _fills(r.journal, "tp_ladder") > 10                       # partial exits, level by level
    # most ladder fills are partial: the trade goes on after them
    assert _fills(r.journal, "tp_ladder") > 2 * (r.trades["exit_reason"] == "tp_ladder").sum()
    assert _adds(r.journal) > 0 and r.trades["fees"].gt(0).all()
    assert r.trades["funding"].abs().sum() > 0


def _check_two_symbols(r, o):
    assert set(r.trades["symbol"]) == {BTC, ETH}
    t = r.trades.sort_values("entry_time")
    assert any(a.exit_time > b.entry_time and a.symbol != b.symbol
               for a, b in zip(t.itertuples(), t.iloc[1:].itertuples()))                 # both held at once
    assert _count(r.journal, "veto:insufficient_margin") > 0 and _adds(r.journal) > 0
    spans = r.journal.groupby("symbol")["timestamp"].agg(["min", "max"])
    assert spans.loc[BTC, "max"] < spans.loc[ETH, "max"] and spans.loc[BTC, "min"] < spans.loc[ETH, "min"]


def _check_correlated(r, o):
    assert _count(r.journal, "veto:correlation") > 10 and _count(r.journal, "veto:volatility") > 10
    assert len(set(r.trades["symbol"])) == 3
    j = r.journal
    # some entries went through beside a position held in a symbol that did not move with them
    held_at_entry = j[(j["outcome"] == "order")].merge(
        r.trades[["entry_time", "exit_time", "symbol"]], how="cross", suffixes=("", "_held"))
    assert ((held_at_entry["symbol"] != held_at_entry["symbol_held"])
            & (held_at_entry["entry_time"] <= held_at_entry["timestamp"])
            & (held_at_entry["exit_time"] > held_at_entry["timestamp"])).any()


def _check_max_positions(r, o):
    assert _count(r.journal, "veto:max_positions") > 0 and set(r.trades["symbol"]) == {BTC, ETH}


def _check_liquidation(r, o):
    assert (r.trades["exit_reason"] == "liquidation").sum() > 0
    assert {"max_holding_time", "stop_loss", "regime_change"} <= _exits(r) and "break_even_stop" not in _exits(r)


def _check_crash(r, o):
    assert "stop_loss" in _exits(r) and len(r.trades) >= 5


def _check_pyramid_liquidation(r, o):
    assert (r.trades["exit_reason"] == "liquidation").sum() > 0
    assert (r.trades["qty"] > r.trades.groupby("entry_time")["qty"].transform("min")).any() or \
        any(i["kind"] == "ADD" for intents in r.journal["intents"].dropna() for i in intents)     # adds were made


def _check_trade_from(r, o):
    _, _, kwargs = _inputs("autobot_trade_from")
    assert r.equity.index[0] == kwargs["trade_from"] and r.journal["timestamp"].min() == kwargs["trade_from"]
    assert _count(r.journal, "warmup") == 0 and (r.trades["entry_time"] > kwargs["trade_from"]).all()
    assert r.equity["equity"].iloc[0] == r.initial_equity and len(r.trades) > 0


def _check_warmup(r, o):
    assert (r.journal["outcome"] == "warmup").all() and len(r.journal) == 27 and r.trades.empty
    assert (r.equity["equity"] == r.initial_equity).all()


def _check_sol(r, o):
    bars, _, _ = _inputs("autobot_sol_unchanged_closes")
    close = bars[SOL]["close"]
    repeated = close.index[close.eq(close.shift())]
    regimes = r.journal.set_index("timestamp").loc[repeated, "regime"]
    assert len(repeated) > 5 and regimes.isin(["BULL_TREND", "BEAR_TREND"]).sum() > 2   # where RSI momentum counts


def _check_small_account(r, o):
    for outcome in ("size:below_min_notional", "size:rounds_to_zero", "gate:short_disabled", "gate:against_regime",
                    "gate:adx_falling", "gate:range_regime", "veto:max_drawdown", "order"):
        assert _count(r.journal, outcome) > 0, outcome


def _check_halt_next_day(r, o):
    halted = r.equity["halted"]
    assert 0 < halted.sum() < len(halted) and _count(r.journal, "veto:halted") > 0
    ends = ~halted & halted.shift(1, fill_value=False)
    assert ends.sum() > 0 and ((ends[ends].index + pd.Timedelta("1h")).hour == 0).all()   # re-armed at a UTC day


def _check_halt_never(r, o):
    halted = r.equity["halted"]
    assert halted.iloc[-1] and halted.sum() > 0 and not (halted & ~halted.cummax()).any()
    assert (halted[halted.idxmax():]).all() and _count(r.journal, "veto:halted") > 0


CHECKS: dict[str, Callable] = {
    "autobot_funding": _check_autobot_funding, "donchian_exit_channel_pyramid": _check_donchian,
    "autobot_ladder_maker_atr_slippage": _check_ladder, "two_symbols_shared_account": _check_two_symbols,
    "two_symbols_max_positions_1": _check_max_positions, "correlated_symbols": _check_correlated,
    "donchian_20x_liquidation": _check_liquidation, "donchian_20x_crash": _check_crash,
    "donchian_20x_crash_under_1_usdt": _check_crash,
    "donchian_20x_pyramid_liquidation": _check_pyramid_liquidation,
    "donchian_20x_pyramid_liquidation_under_1_usdt": _check_pyramid_liquidation,
    "autobot_trade_from": _check_trade_from, "warmup_only": _check_warmup, "small_account": _check_small_account,
    "autobot_sol_unchanged_closes": _check_sol,
    "daily_loss_halt_next_day": _check_halt_next_day, "daily_loss_halt_never": _check_halt_never,
}


@pytest.mark.parametrize("name", list(CASES))
def test_case_exercises_what_it_claims(name):
    CHECKS[name](engine(name), oracle(name))


# --- the comparison can fail --------------------------------------------------------------------------

FAULT_CASES = {
    "trail_x1.3": "donchian_exit_channel_pyramid", "target_first": "autobot_trade_from",
    "funding_sign": "autobot_funding",
    "gap_at_trigger": "donchian_exit_channel_pyramid", "stop_round_away": "autobot_funding",
    "no_atr_slippage": "autobot_ladder_maker_atr_slippage", "tp_taker": "autobot_ladder_maker_atr_slippage",
    "liq_taker_fee": "donchian_20x_liquidation", "flat_first": "two_symbols_shared_account",
    "no_rearm": "daily_loss_halt_next_day", "donchian_inclusive": "donchian_exit_channel_pyramid",
    "ladder_of_remaining": "autobot_ladder_maker_atr_slippage",
    "no_pyramid_stop_raise": "donchian_exit_channel_pyramid",
    "margin_not_consumed": "two_symbols_shared_account", "max_positions_ignores_decided": "two_symbols_max_positions_1",
    "be_on_close": "autobot_funding", "funding_late": "autobot_funding", "anchor_by_open": "daily_loss_halt_next_day",
    "rsi_cutler": "autobot_funding", "ema_first_seed": "autobot_funding",
    "corr_held_only": "correlated_symbols", "corr_window_short": "correlated_symbols",
}


def test_every_fault_has_a_case():
    assert set(FAULT_CASES) == set(FAULTS)


@pytest.mark.parametrize("fault", list(FAULT_CASES))
def test_a_planted_oracle_fault_is_caught(fault):
    name = FAULT_CASES[fault]
    assert not differences(engine(name), oracle(name)), f"{name} differs without the fault already"
    assert differences(engine(name), oracle(name, frozenset({fault}))), \
        f"the oracle with the fault {fault!r} ({FAULTS[fault]}) still agrees with the engine on {name}"
