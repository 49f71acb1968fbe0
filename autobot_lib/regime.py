"""Market regimes: BULL_TREND, BEAR_TREND or RANGE, from ADX, the long EMA and RSI (the AUTOBOT seed).

    if adx < adx_range:                       RANGE       (no trend strong enough)
    elif close > ema_long and rsi > rsi_mid:  BULL_TREND
    elif close < ema_long and rsi < rsi_mid:  BEAR_TREND
    else:                                     RANGE       (price and momentum disagree: no trend to follow)

The seed leaves the last case undefined; here it is RANGE, the regime in which nothing is opened, so a
muddled market fails closed. Bars before the indicators are warm have no regime (NaN / None).

:func:`classify` is the one rule. It takes arrays (batch, :func:`detect_regimes`) or scalars (streaming,
:class:`RegimeStream`) and is the same code either way, so both forms agree bar for bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Mapping, NamedTuple

import numpy as np
import pandas as pd

from autobot_lib.indicators import ADX, EMA, RSI, IndicatorStream


class Regime(StrEnum):
    BULL_TREND = "BULL_TREND"
    BEAR_TREND = "BEAR_TREND"
    RANGE = "RANGE"


_CODE_TO_REGIME = {1.0: Regime.BULL_TREND, -1.0: Regime.BEAR_TREND, 0.0: Regime.RANGE}
REGIME_ORDER = [Regime.BULL_TREND, Regime.BEAR_TREND, Regime.RANGE]


@dataclass(frozen=True)
class RegimeParams:
    """Thresholds of the detector; the defaults are the seed's (ADX 20, EMA_LONG 21, RSI 50)."""

    adx_range: float = 20.0
    ema_period: int = 21
    rsi_mid: float = 50.0
    adx_period: int = 14
    rsi_period: int = 14

    def __post_init__(self) -> None:
        if not 0 < self.adx_range < 100:
            raise ValueError(f"adx_range must be between 0 and 100, got {self.adx_range!r}")
        if not 0 < self.rsi_mid < 100:
            raise ValueError(f"rsi_mid must be between 0 and 100, got {self.rsi_mid!r}")

    @property
    def ema_column(self) -> str:
        return f"ema_{self.ema_period}"

    @property
    def columns(self) -> tuple[str, ...]:
        """The feature columns the detector reads."""
        return ("adx", self.ema_column, "rsi")


def classify(adx: Any, close: Any, ema_long: Any, rsi: Any, params: RegimeParams = RegimeParams()) -> Any:
    """Regime codes: 1 bull, -1 bear, 0 range, NaN while any input is NaN. Arrays or scalars."""
    adx, close, ema_long, rsi = (np.asarray(x, dtype=np.float64) for x in (adx, close, ema_long, rsi))
    bull = (close > ema_long) & (rsi > params.rsi_mid)
    bear = (close < ema_long) & (rsi < params.rsi_mid)
    code = np.where(adx < params.adx_range, 0.0, np.where(bull, 1.0, np.where(bear, -1.0, 0.0)))
    warm = ~(np.isnan(adx) | np.isnan(close) | np.isnan(ema_long) | np.isnan(rsi))
    return np.where(warm, code, np.nan)


def to_regime(code: float) -> Regime | None:
    return None if code != code else _CODE_TO_REGIME[float(code)]


def detect_regimes(data: pd.DataFrame, params: RegimeParams = RegimeParams(),
                   features: pd.DataFrame | None = None) -> pd.Series:
    """The regime of every bar (a categorical Series; NaN during warm-up).

    ``features`` may supply ``adx``, ``ema_<period>`` and ``rsi`` columns already computed with the
    same periods (e.g. by :func:`autobot_lib.indicators.compute_features`); otherwise they are computed.
    """
    def column(name: str, indicator) -> np.ndarray:
        if features is not None and name in features.columns:
            return features[name].to_numpy(dtype=np.float64)
        return indicator.batch(data)[name].to_numpy()

    codes = classify(column("adx", ADX(params.adx_period)), data["close"].to_numpy(dtype=np.float64),
                     column(params.ema_column, EMA(params.ema_period)), column("rsi", RSI(params.rsi_period)),
                     params)
    return _codes_to_series(codes, data.index)


def regime_positions(bars: np.ndarray, params: RegimeParams = RegimeParams(),
                     features: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """:func:`detect_regimes` as positions in REGIME_ORDER (-1 during warm-up), from the (bars, 5) OHLCV
    matrix (:func:`autobot_lib.indicators.ohlcv_matrix`) and the feature columns already at hand: the
    batch pipeline's form, with no frame and no labels (they are put on at the edges)."""
    features = features or {}

    def column(name: str, indicator) -> np.ndarray:
        if name in features:
            return features[name]
        return indicator.run_ohlcv(bars)[:, indicator.columns.index(name)]

    codes = classify(column("adx", ADX(params.adx_period)), bars[:, 3],
                     column(params.ema_column, EMA(params.ema_period)), column("rsi", RSI(params.rsi_period)),
                     params)
    return category_codes(codes)


def category_codes(codes: np.ndarray) -> np.ndarray:
    """Regime codes (1, -1, 0, NaN) as positions in REGIME_ORDER (-1 for NaN)."""
    return np.select([codes == 1.0, codes == -1.0, codes == 0.0], [0, 1, 2], -1).astype(np.int8)


def _codes_to_series(codes: np.ndarray, index: pd.Index) -> pd.Series:
    categorical = pd.Categorical.from_codes(category_codes(codes), categories=[r.value for r in REGIME_ORDER])
    return pd.Series(categorical, index=index, name="regime")


def regime_changes(regimes: pd.Series) -> pd.DataFrame:
    """One row per change of regime: ``timestamp``, ``previous`` (None for the first), ``regime``."""
    known = regimes.dropna().astype(str)
    changed = known.ne(known.shift())
    rows = known[changed]
    previous = [p if isinstance(p, str) else None for p in known.shift()[changed].tolist()]
    return pd.DataFrame({"timestamp": rows.index, "previous": pd.Series(previous, dtype=object),
                         "regime": rows.to_numpy()})


def regime_stats(regimes: pd.Series, close: pd.Series, horizons: tuple[int, ...] = (1, 4, 24)) -> pd.DataFrame:
    """Per regime: share of bars, episodes, mean duration (bars and time), and forward returns.

    ``fwd_ret_<h>`` is the mean simple return over the next h bars from bars in that regime and
    ``up_<h>`` the share of those returns above zero: descriptive statistics that look ahead on purpose,
    never features for a decision.
    """
    known = regimes.astype(object).where(regimes.notna())
    episodes = regime_changes(regimes)
    bar = pd.Series(close.index, index=close.index).diff().median() if len(close) > 1 else pd.NaT
    rows = {}
    n_known = int(known.notna().sum())
    for regime in REGIME_ORDER:
        mask = (known == regime.value).to_numpy()
        count = int(mask.sum())
        n_episodes = int((episodes["regime"] == regime.value).sum())
        row: dict[str, Any] = {
            "bars": count,
            "share": count / n_known if n_known else np.nan,
            "episodes": n_episodes,
            "mean_duration_bars": count / n_episodes if n_episodes else np.nan,
            "mean_duration": (bar * (count / n_episodes)) if n_episodes and bar is not pd.NaT else pd.NaT,
        }
        for h in horizons:
            fwd = (close.shift(-h) / close - 1.0).to_numpy()[mask]
            fwd = fwd[~np.isnan(fwd)]
            row[f"fwd_ret_{h}"] = float(fwd.mean()) if fwd.size else np.nan
            row[f"up_{h}"] = float((fwd > 0).mean()) if fwd.size else np.nan
        rows[regime.value] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "regime"
    return out


class RegimeUpdate(NamedTuple):
    regime: Regime | None
    previous: Regime | None
    changed: bool


class RegimeStream:
    """The streaming detector: one bar in, this bar's regime and whether it changed."""

    def __init__(self, params: RegimeParams = RegimeParams(), *, _streams: list[IndicatorStream] | None = None,
                 _last: Regime | None = None):
        self.params = params
        self._adx, self._ema, self._rsi = _streams or [
            ADX(params.adx_period).stream(), EMA(params.ema_period).stream(), RSI(params.rsi_period).stream()]
        self._last = _last

    def update(self, open: float, high: float, low: float, close: float, volume: float) -> RegimeUpdate:
        bar = (open, high, low, close, volume)
        adx = self._adx.update(*bar)[0]
        ema = self._ema.update(*bar)[0]
        rsi = self._rsi.update(*bar)[0]
        regime = to_regime(float(classify(adx, close, ema, rsi, self.params)))
        previous = self._last
        changed = regime is not None and regime != previous
        if regime is not None:
            self._last = regime
        return RegimeUpdate(regime, previous, changed)

    def get_state(self) -> dict[str, Any]:
        return {"params": self.params.__dict__, "last": self._last.value if self._last else None,
                "streams": [s.get_state() for s in (self._adx, self._ema, self._rsi)]}

    @classmethod
    def from_state(cls, saved: dict[str, Any]) -> RegimeStream:
        params = RegimeParams(**saved["params"])
        indicators = (ADX(params.adx_period), EMA(params.ema_period), RSI(params.rsi_period))
        streams = [IndicatorStream.from_state(ind, s) for ind, s in zip(indicators, saved["streams"], strict=True)]
        return cls(params, _streams=streams, _last=Regime(saved["last"]) if saved["last"] else None)
