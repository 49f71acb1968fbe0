"""Indicators on real candles: TA-Lib as the oracle, streaming == batch, no look-ahead, honest warm-up."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import talib

from autobot_lib import indicators as ind
from conftest import real

FILES = ["binance_usdm_BTCUSDT_1h.csv.gz", "binance_usdm_ETHUSDT_1h.csv.gz",
         "binance_spot_BTCUSDT_1h.csv.gz", "binance_spot_ETHUSDT_1h.csv.gz"]
RTOL = 1e-8


def _cols(frame):
    return tuple(frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume"))


def _oracle_cases(frame):
    """(name, ours, TA-Lib's, bars to skip): TA-Lib's own conventions, compared where both are defined."""
    o, h, l, c, v = _cols(frame)
    f = ind.compute_features(frame)
    lag = lambda x: np.concatenate([[np.nan], x[:-1]])  # Donchian uses the bars *before* t
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    upper, mid, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    cases = [
        ("rsi", f["rsi"], talib.RSI(c, 14), 0),
        *[(f"ema_{p}", f[f"ema_{p}"], talib.EMA(c, p), 0) for p in (9, 21, 50, 200)],
        ("sma_20", ind.sma(frame, 20), talib.SMA(c, 20), 0),
        ("atr", f["atr"], talib.ATR(h, l, c, 14), 0),
        ("adx", f["adx"], talib.ADX(h, l, c, 14), 0),
        ("plus_di", f["plus_di"], talib.PLUS_DI(h, l, c, 14), 0),
        ("minus_di", f["minus_di"], talib.MINUS_DI(h, l, c, 14), 0),
        ("bb_mid", f["bb_mid"], mid, 0), ("bb_upper", f["bb_upper"], upper, 0), ("bb_lower", f["bb_lower"], lower, 0),
        ("bb_width", f["bb_width"], (upper - lower) / mid, 0),
        ("dc_upper_20", f["dc_upper_20"], lag(talib.MAX(h, 20)), 0),
        ("dc_lower_20", f["dc_lower_20"], lag(talib.MIN(l, 20)), 0),
        ("dc_lower_10", f["dc_lower_10"], lag(talib.MIN(l, 10)), 0),
        ("volume_sma", f["volume_sma"], talib.SMA(v, 20), 0),
        ("macd", f["macd"], macd, 0), ("macd_signal", f["macd_signal"], signal, 0), ("macd_hist", f["macd_hist"], hist, 0),
    ]
    return cases


@pytest.mark.parametrize("name", FILES)
def test_batch_equals_talib(name):
    frame = real(name)
    for label, ours, ref, skip in _oracle_cases(frame):
        ours = np.asarray(ours, dtype=np.float64)[skip:]
        ref = np.asarray(ref, dtype=np.float64)[skip:]
        defined = ~np.isnan(ref)
        assert defined.sum() > 0.9 * len(ref), label
        if label.startswith("macd"):  # near zero at every crossing: scale the tolerance by price
            np.testing.assert_allclose(ours[defined], ref[defined], rtol=RTOL, atol=RTOL * np.median(frame["close"]),
                                       err_msg=label)
        else:
            np.testing.assert_allclose(ours[defined], ref[defined], rtol=RTOL, err_msg=label)


@pytest.mark.parametrize("name", FILES[:2])
def test_warmup_is_nan_exactly_as_long_as_talib_lookback(name):
    frame = real(name)
    for label, ours, ref, _ in _oracle_cases(frame):
        ours = np.asarray(ours, dtype=np.float64)
        first_ours, first_ref = np.argmax(~np.isnan(ours)), np.argmax(~np.isnan(np.asarray(ref)))
        assert first_ours == first_ref, label
        assert np.isnan(ours[:first_ours]).all() and not np.isnan(ours[first_ours:]).any(), label
    f = ind.compute_features(frame)
    # MACD line, signal and histogram all appear at TA-Lib's index slow-1 + signal-1 = 33
    for column in ("macd", "macd_signal", "macd_hist"):
        assert np.argmax(f[column].notna().to_numpy()) == 33, column
    assert f.iloc[ind.FeatureSpec().warmup_bars - 1:].notna().all().all()


@pytest.mark.parametrize("name", FILES)
def test_streaming_equals_batch_at_every_bar(name):
    frame = real(name).iloc[-20000:]
    batch = ind.compute_features(frame).to_numpy()
    stream = ind.FeatureStream()
    assert {"macd", "macd_signal", "macd_hist"} <= set(stream.columns)
    rows = np.array([list(stream.update(*bar).values()) for bar in frame.itertuples(index=False)])
    np.testing.assert_allclose(rows, batch, rtol=1e-9, atol=0, equal_nan=True)
    assert np.array_equal(np.isnan(rows), np.isnan(batch))


MACD_PARAMS = [(12, 26, 9), (5, 35, 5), (3, 10, 16), (12, 26, 1), (25, 26, 9)]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("params", MACD_PARAMS)
def test_macd_equals_talib_from_its_first_value(name, params):
    """TA-Lib's MACD seeds the fast EMA with the SMA of the ``fast`` closes ending at the slow EMA's
    first bar and the signal with the SMA of the first ``signal`` MACD values: ours matches it from
    its first value (bars < 300 included), with exactly its NaN warm-up, for the line, signal and hist."""
    frame = real(name)
    close = frame["close"].to_numpy(dtype=np.float64)
    fast, slow, signal = params
    ours = ind.MACD(*params).batch(frame)
    atol = 1e-9 * np.median(close)   # the line crosses zero: relative error alone is meaningless there
    for column, ref in zip(("macd", "macd_signal", "macd_hist"), talib.MACD(close, fast, slow, signal)):
        got = ours[column].to_numpy()
        first = slow - 1 + signal - 1
        assert np.isnan(ref[:first]).all() and not np.isnan(ref[first:]).any()   # TA-Lib's lookback
        assert np.array_equal(np.isnan(got), np.isnan(ref)), column
        np.testing.assert_allclose(got[first:300], ref[first:300], rtol=1e-9, atol=atol, err_msg=f"{column} < 300")
        np.testing.assert_allclose(got[first:], ref[first:], rtol=1e-9, atol=atol, err_msg=column)


@pytest.mark.parametrize("params", MACD_PARAMS[:3])
def test_macd_stream_equals_batch_exactly_from_the_first_bar(params):
    """Bar by bar from no history, through the fast EMA's skipped bars and both seeds, the streaming MACD
    gives the batch's line, signal and hist bit for bit, also across a JSON restart inside the warm-up."""
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:600]
    macd = ind.MACD(*params)
    batch = macd.batch(frame).to_numpy()
    bars = list(frame.itertuples(index=False))
    stream = macd.stream()
    rows = [stream.update(*bar) for bar in bars]
    assert np.array_equal(np.array(rows), batch, equal_nan=True)
    restart = params[1] - params[0] - 1            # inside the bars the fast EMA skips
    first = macd.stream()
    for bar in bars[:restart]:
        first.update(*bar)
    second = ind.IndicatorStream.from_state(macd, json.loads(json.dumps(first.get_state())))
    rows = [second.update(*bar) for bar in bars[restart:]]
    assert np.array_equal(np.array(rows), batch[restart:], equal_nan=True)


def test_stream_state_survives_a_restart_through_json():
    frame = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-3000:]
    batch = ind.compute_features(frame).to_numpy()
    first = ind.FeatureStream()
    bars = list(frame.itertuples(index=False))
    for bar in bars[:1700]:
        first.update(*bar)
    saved = json.loads(json.dumps(first.get_state()))
    second = ind.FeatureStream.from_state(saved)
    rows = np.array([list(second.update(*bar).values()) for bar in bars[1700:]])
    np.testing.assert_allclose(rows, batch[1700:], rtol=1e-9, equal_nan=True)


def test_restoring_into_other_settings_is_refused():
    saved = ind.EMA(21).stream().get_state()
    with pytest.raises(ValueError, match="same indicator settings"):
        ind.IndicatorStream.from_state(ind.EMA(50), saved)


@pytest.mark.parametrize("name", FILES[:2])
def test_no_look_ahead(name):
    frame = real(name)
    full = ind.compute_features(frame)
    rng = np.random.default_rng(11)
    for t in sorted(rng.integers(30, len(frame), size=25)):
        prefix = ind.compute_features(frame.iloc[: t + 1])
        pd.testing.assert_frame_equal(prefix, full.iloc[: t + 1])


def test_series_input_and_doc_example():
    close = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ind.ema(close, 3).tolist()[2:] == [2.0, 3.0, 4.0]
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:500]
    pd.testing.assert_series_equal(ind.rsi(frame["close"], 14), ind.rsi(frame, 14), check_names=False)


def test_bollinger_percent_b_and_donchian_mid():
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-2000:]
    bb = ind.bollinger(frame)
    expected = (frame["close"] - bb["bb_lower"]) / (bb["bb_upper"] - bb["bb_lower"])
    np.testing.assert_allclose(bb["bb_pctb"], expected, rtol=1e-12, equal_nan=True)
    dc = ind.donchian(frame, 20)
    np.testing.assert_allclose(dc["dc_mid_20"], (dc["dc_upper_20"] + dc["dc_lower_20"]) / 2, equal_nan=True)


def test_flat_market_gives_neutral_values_not_garbage():
    idx = pd.date_range("2024-01-01", periods=60, freq="1h", tz="UTC")
    flat = pd.DataFrame({"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0, "volume": 1.0}, index=idx)
    f = ind.compute_features(flat.assign(volume=1.0))
    assert (f["rsi"].dropna() == 50.0).all()
    assert (f["bb_pctb"].dropna() == 0.5).all() and (f["bb_width"].dropna() == 0.0).all()
    assert (f["atr"].dropna() == 0.0).all()


@pytest.mark.parametrize("make, message", [
    (lambda: ind.EMA(0), "EMA period must be a whole number >= 1, got 0"),
    (lambda: ind.RSI(2.5), "RSI period must be a whole number >= 1, got 2.5"),
    (lambda: ind.MACD(26, 12), "fast period must be shorter than slow"),
    (lambda: ind.BBANDS(1), "Bollinger period must be a whole number >= 2"),
    (lambda: ind.BBANDS(20, -1), "Bollinger k must be a number in"),
    (lambda: ind.EMA(10, column="vwap"), "column must be one of"),
])
def test_bad_parameters_are_named(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_nan_input_is_refused_with_its_place():
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:100].copy()
    frame.iloc[40, frame.columns.get_loc("high")] = np.nan
    with pytest.raises(ValueError, match=r"NaN in column 'high' at 2019-09-10 09:00"):
        ind.atr(frame)
    with pytest.raises(TypeError, match="needs an OHLCV frame"):
        ind.atr(frame["close"])
