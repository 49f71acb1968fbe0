"""Technical indicators in two forms that agree exactly: batch (whole history) and streaming (per bar).

An :class:`Indicator` is a configured kernel (see ``_kernels.py``): ``EMA(21)``, ``RSI(14)``,
``MACD(12, 26, 9)``, ``BBANDS(20, 2.0)``, ``ATR(14)``, ``ADX(14)``, ``DONCHIAN(20)``, ``SMA(20)``,
``VOLUME_SMA(20)``. Inputs are canonical OHLCV frames (``autobot_lib.data``) or, for single-series
indicators, a Series. Outputs keep the input's index; warm-up rows are NaN. Indicators count bars,
not clock time: a gap in the data is simply the next bar.

>>> import pandas as pd
>>> close = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
>>> ema(close, 3).tolist()
[nan, nan, 2.0, 3.0, 4.0]
>>> s = EMA(3).stream()
>>> [round(s.update(c, c, c, c, 0.0)[0], 6) for c in close]
[nan, nan, 2.0, 3.0, 4.0]

For the feature columns the rules read, use :class:`FeatureSpec`, :func:`compute_features` (batch) and
:class:`FeatureStream` (live): one bar in, every feature out, with a state that can be saved and
restored (``get_state`` / ``from_state``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from autobot_lib.indicators import _kernels as _k

__all__ = [
    "Indicator", "IndicatorStream", "FeatureSpec", "EMA_ROLES", "FeatureStream", "compute_features",
    "feature_matrix", "ohlcv_matrix",
    "EMA", "SMA", "RSI", "MACD", "BBANDS", "ATR", "ADX", "DONCHIAN", "VOLUME_SMA",
    "ema", "sma", "rsi", "macd", "bollinger", "atr", "adx", "donchian", "volume_sma",
]

OHLCV = ("open", "high", "low", "close", "volume")
_COLUMN_INDEX = {name: i for i, name in enumerate(OHLCV)}


@dataclass(frozen=True)
class Indicator:
    """A configured indicator: its step and batch kernels, output columns and initial state.

    ``source`` names the input column of single-series indicators (the first state slot holds its
    index); ``None`` means the kernel reads high/low/close itself. ``ring`` is the window length
    windowed indicators keep.
    """

    name: str
    step: Callable[..., tuple] = field(repr=False)
    kernel: Callable[..., tuple] = field(repr=False)
    columns: tuple[str, ...]
    initial_state: tuple[float, ...] = field(repr=False)
    source: str | None = "close"
    ring: int = 1

    def batch(self, data: pd.DataFrame | pd.Series) -> pd.DataFrame:
        """All bars at once; a frame with :attr:`columns`, indexed like ``data``."""
        bars, state = self._inputs(data)
        return pd.DataFrame(self._run(bars, state), index=data.index, columns=list(self.columns), copy=False)

    def stream(self) -> IndicatorStream:
        """The streaming form, starting from no history."""
        return IndicatorStream(self)

    def _run(self, bars: np.ndarray, state: tuple[float, ...], out: np.ndarray | None = None) -> np.ndarray:
        # column-major output: each column is contiguous, and a frame wraps it without a copy
        out = np.empty((bars.shape[0], len(self.columns)), order="F") if out is None else out
        self.kernel(state, np.zeros(self.ring), bars, out)
        return out

    def run_ohlcv(self, bars: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """All bars of a (bars, 5) OHLCV matrix (:func:`ohlcv_matrix`) at once: a (bars, len(columns))
        column-major matrix, written into ``out`` when given."""
        state = self._state_reading(_COLUMN_INDEX[self.source]) if self.source is not None else self.initial_state
        return self._run(bars, state, out)

    def _state_reading(self, column: int) -> tuple[float, ...]:
        return (float(column), *self.initial_state[1:]) if self.source is not None else self.initial_state

    def _inputs(self, data: pd.DataFrame | pd.Series) -> tuple[np.ndarray, tuple[float, ...]]:
        if isinstance(data, pd.Series):
            if self.source is None:
                raise TypeError(f"{self.name} needs an OHLCV frame with high/low/close, not a Series")
            return _as_matrix(data.to_frame(name="series"), ["series"]), self._state_reading(0)
        if self.source is not None:
            return _as_matrix(data, [self.source]), self._state_reading(0)
        return _as_matrix(data, list(OHLCV[:4])), self.initial_state


def _as_matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"input is missing column(s) {missing}; expected an OHLCV frame with {list(OHLCV)}")
    matrix = np.column_stack([frame[c].to_numpy(dtype=np.float64) for c in columns])
    if np.isnan(matrix).any():
        row, col = np.argwhere(np.isnan(matrix))[0]
        raise ValueError(
            f"NaN in column '{columns[col]}' at {frame.index[row]}: indicators need clean bars; "
            "validate the data first (autobot_lib.data.load_ohlcv) instead of passing holes through"
        )
    return matrix


class IndicatorStream:
    """The streaming form of one indicator: ``update`` takes one bar, returns this bar's outputs."""

    __slots__ = ("indicator", "_state", "_ring", "_bar", "_out")

    def __init__(self, indicator: Indicator, state: tuple[float, ...] | None = None, ring: np.ndarray | None = None):
        self.indicator = indicator
        if state is None:
            column = _COLUMN_INDEX[indicator.source] if indicator.source is not None else 0
            state = indicator._state_reading(column)
        self._state = state
        self._ring = np.zeros(indicator.ring) if ring is None else ring
        self._bar = np.zeros((1, 5))
        self._out = np.zeros((1, len(indicator.columns)))

    def update(self, open: float, high: float, low: float, close: float, volume: float) -> tuple[float, ...]:
        bar = self._bar[0]
        bar[0], bar[1], bar[2], bar[3], bar[4] = open, high, low, close, volume
        self._state = self.indicator.step(self._state, self._ring, self._bar, 0, self._out)
        return tuple(self._out[0].tolist())

    def get_state(self) -> dict[str, Any]:
        return {"indicator": self.indicator.name, "columns": list(self.indicator.columns),
                "state": list(self._state), "ring": self._ring.tolist()}

    @classmethod
    def from_state(cls, indicator: Indicator, saved: dict[str, Any]) -> IndicatorStream:
        if (saved.get("columns") != list(indicator.columns)
                or len(saved.get("state", ())) != len(indicator.initial_state)
                or len(saved.get("ring", ())) != indicator.ring):
            raise ValueError(
                f"saved state is for {saved.get('indicator')} {saved.get('columns')}, "
                f"not {indicator.name} {list(indicator.columns)}: restore it with the same indicator settings"
            )
        return cls(indicator, tuple(float(v) for v in saved["state"]), np.array(saved["ring"], dtype=np.float64))


# --- indicator factories (names as in TA-Lib) ---------------------------------------------------

def _period(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _source(column: str) -> str:
    if column not in _COLUMN_INDEX:
        raise ValueError(f"column must be one of {list(OHLCV)}, got {column!r}")
    return column


def _avg_block(period: int, alpha: float) -> tuple[float, ...]:
    return (float(period), alpha, 0.0, 0.0)


def EMA(period: int = 21, column: str = "close") -> Indicator:
    """Exponential moving average, alpha = 2/(period+1), seeded with the mean of the first ``period`` values."""
    n = _period("EMA period", period)
    return Indicator("EMA", _k.ema_step, _k.ema_batch, (f"ema_{n}",), (0.0, *_avg_block(n, 2.0 / (n + 1))),
                     _source(column))


def SMA(period: int = 20, column: str = "close", name: str | None = None) -> Indicator:
    """Simple moving average over the last ``period`` values."""
    n = _period("SMA period", period)
    return Indicator("SMA", _k.sma_step, _k.sma_batch, (name or f"sma_{n}",), (0.0, float(n), 0.0, 0.0, 0.0),
                     _source(column), ring=n)


def VOLUME_SMA(period: int = 20) -> Indicator:
    """Simple moving average of volume (column ``volume_sma``)."""
    return SMA(_period("VOLUME_SMA period", period), column="volume", name="volume_sma")


def RSI(period: int = 14, column: str = "close") -> Indicator:
    """Wilder's RSI (0..100); 50 when nothing moved over the window; exactly unchanged on an unchanged close."""
    n = _period("RSI period", period)
    return Indicator("RSI", _k.rsi_step, _k.rsi_batch, ("rsi",),
                     (0.0, float(n), 1.0 / n, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.nan), _source(column))


def ATR(period: int = 14) -> Indicator:
    """Wilder's average true range, in price units."""
    n = _period("ATR period", period)
    return Indicator("ATR", _k.atr_step, _k.atr_batch, ("atr",), (float(n), 1.0 / n, 0.0, 0.0, 0.0, 0.0), None)


def ADX(period: int = 14) -> Indicator:
    """Wilder's ADX with +DI and -DI (columns ``adx``, ``plus_di``, ``minus_di``)."""
    n = _period("ADX period", period)
    return Indicator("ADX", _k.adx_step, _k.adx_batch, ("adx", "plus_di", "minus_di"), (float(n),) + (0.0,) * 9, None)


def MACD(fast: int = 12, slow: int = 26, signal: int = 9, column: str = "close") -> Indicator:
    """MACD line (EMA fast - EMA slow), its signal EMA, and the histogram, as TA-Lib computes them: the
    fast EMA is seeded over the ``fast`` bars ending at the slow EMA's seed, and all three columns start
    together at bar slow-1 + signal-1 (33 for 12/26/9), NaN before."""
    f, s, g = (_period(f"MACD {k}", v) for k, v in (("fast", fast), ("slow", slow), ("signal", signal)))
    if f >= s:
        raise ValueError(f"MACD fast period must be shorter than slow, got fast={f}, slow={s}")
    state = (0.0, *_avg_block(f, 2.0 / (f + 1)), *_avg_block(s, 2.0 / (s + 1)), *_avg_block(g, 2.0 / (g + 1)))
    return Indicator("MACD", _k.macd_step, _k.macd_batch, ("macd", "macd_signal", "macd_hist"), state, _source(column))


def BBANDS(period: int = 20, k: float = 2.0, column: str = "close") -> Indicator:
    """Bollinger Bands: middle SMA, bands at k population standard deviations, width and %b."""
    n = _period("Bollinger period", period, minimum=2)
    if isinstance(k, bool) or not (isinstance(k, (int, float)) and 0 < k <= 10):
        raise ValueError(f"Bollinger k must be a number in (0, 10], got {k!r}")
    return Indicator("BBANDS", _k.bollinger_step, _k.bollinger_batch,
                     ("bb_mid", "bb_upper", "bb_lower", "bb_width", "bb_pctb"),
                     (0.0, float(k), float(n), 0.0, 0.0, 0.0, 0.0, 0.0), _source(column), ring=n)


def DONCHIAN(period: int = 20) -> Indicator:
    """Donchian channel over the ``period`` bars *before* each bar: upper, lower, mid."""
    n = _period("Donchian period", period)
    cols = (f"dc_upper_{n}", f"dc_lower_{n}", f"dc_mid_{n}")
    return Indicator("DONCHIAN", _k.donchian_step, _k.donchian_batch, cols, (float(n), 0.0, 0.0, -np.inf, -np.inf), None,
                     ring=4 * n)


# --- batch shortcuts ----------------------------------------------------------------------------

def _one(indicator: Indicator, data: pd.DataFrame | pd.Series) -> pd.Series:
    return indicator.batch(data).iloc[:, 0]


def ema(data: pd.DataFrame | pd.Series, period: int = 21, column: str = "close") -> pd.Series:
    return _one(EMA(period, column), data)


def sma(data: pd.DataFrame | pd.Series, period: int = 20, column: str = "close") -> pd.Series:
    return _one(SMA(period, column), data)


def volume_sma(data: pd.DataFrame, period: int = 20) -> pd.Series:
    return _one(VOLUME_SMA(period), data)


def rsi(data: pd.DataFrame | pd.Series, period: int = 14, column: str = "close") -> pd.Series:
    return _one(RSI(period, column), data)


def atr(data: pd.DataFrame, period: int = 14) -> pd.Series:
    return _one(ATR(period), data)


def adx(data: pd.DataFrame, period: int = 14) -> pd.DataFrame:
    return ADX(period).batch(data)


def macd(data: pd.DataFrame | pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    return MACD(fast, slow, signal).batch(data)


def bollinger(data: pd.DataFrame | pd.Series, period: int = 20, k: float = 2.0) -> pd.DataFrame:
    return BBANDS(period, k).batch(data)


def donchian(data: pd.DataFrame, period: int = 20) -> pd.DataFrame:
    return DONCHIAN(period).batch(data)


# --- the feature set the rules read ---------------------------------------------------------------

EMA_ROLES = ("short", "long", "trend", "major")
"""The EMAs the settings name (EMA_SHORT, EMA_LONG, EMA_TREND, EMA_MAJOR): columns ``ema_short`` ...,
whatever their periods. ``ema_<n>`` is the EMA of period n, for any n a rule asks for."""

_GROUPS = {"rsi": "rsi", "macd": "macd", "macd_signal": "macd", "macd_hist": "macd", "atr": "atr",
           "adx": "adx", "plus_di": "adx", "minus_di": "adx", "volume_sma": "volume_sma",
           **{c: "bb" for c in ("bb_mid", "bb_upper", "bb_lower", "bb_width", "bb_pctb")}}
_PER_PERIOD = {"ema_": "ema", "dc_upper_": "donchian", "dc_lower_": "donchian", "dc_mid_": "donchian"}


@dataclass(frozen=True)
class FeatureSpec:
    """Which indicators make up the feature columns; defaults are the seeds' (AUTOBOT and Donchian bot).

    ``None`` (or an empty tuple) leaves an indicator out; ATR and ADX are always there (the risk path reads
    them). ``ema`` are the periods with columns ``ema_<n>``; ``ema_roles`` name some of them by role
    (``ema_short`` ... for :data:`EMA_ROLES`); ``constants`` are columns of one value (``adx_minimum``: the
    ADX_MINIMUM setting, so rules read it rather than a literal). :meth:`reading` is the smallest spec
    that still gives a set of columns (what a plan's strategy and risk path read)."""

    rsi: int | None = 14
    ema: tuple[int, ...] = (9, 21, 50, 200)
    macd: tuple[int, int, int] | None = (12, 26, 9)
    bb: tuple[int, float] | None = (20, 2.0)
    atr: int = 14
    adx: int = 14
    donchian: tuple[int, ...] = (20, 10)  # Turtle / Donchian bot: 20-bar entry, 10-bar exit channel
    volume_sma: int | None = 20
    ema_roles: tuple[tuple[str, int], ...] = (("short", 9), ("long", 21), ("trend", 50), ("major", 200))
    constants: tuple[tuple[str, float], ...] = (("adx_minimum", 25.0),)

    def __post_init__(self) -> None:
        unknown = [r for r, _ in self.ema_roles if r not in EMA_ROLES]
        if unknown:
            raise ValueError(f"EMA roles must be among {list(EMA_ROLES)}, got {unknown}")

    @property
    def ema_periods(self) -> tuple[int, ...]:
        """Every EMA period computed, once each: ``ema``'s, then the roles' others."""
        return tuple(dict.fromkeys((*self.ema, *(p for _, p in self.ema_roles))))

    def indicators(self) -> tuple[Indicator, ...]:
        return (
            *((RSI(self.rsi),) if self.rsi else ()), *(EMA(p) for p in self.ema_periods),
            *((MACD(*self.macd),) if self.macd else ()), *((BBANDS(*self.bb),) if self.bb else ()),
            ATR(self.atr), ADX(self.adx), *(DONCHIAN(p) for p in self.donchian),
            *((VOLUME_SMA(self.volume_sma),) if self.volume_sma else ()),
        )

    @property
    def aliases(self) -> tuple[tuple[str, str], ...]:
        """(role column, the column it names): ``("ema_short", "ema_9")``."""
        return tuple((f"ema_{role}", f"ema_{p}") for role, p in self.ema_roles)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*(c for ind in self.indicators() for c in ind.columns), *(a for a, _ in self.aliases),
                *(name for name, _ in self.constants))

    @property
    def warmup_bars(self) -> int:
        """Bars before every feature is defined (the slowest: EMA seeding, ADX's 2n-1, MACD's slow+signal-1)
        and Wilder's smoothings (ATR, ADX, RSI) have forgotten their seed, (1 - 1/n)^12n < 1e-5: the live
        engine fetches this much history, so its values are the backtest's over a longer one."""
        settle = 12 * max(self.atr, self.adx, self.rsi or 0)
        return max(max(self.ema_periods, default=0), 2 * self.adx + settle,
                   self.macd[1] + self.macd[2] if self.macd else 0, self.bb[0] if self.bb else 0,
                   self.rsi + 1 if self.rsi else 0, self.atr + 1, max(self.donchian, default=0) + 1,
                   self.volume_sma or 0)

    def reading(self, columns: Iterable[str]) -> FeatureSpec:
        """The smallest spec, with these periods, that gives ``columns`` (ATR and ADX always). ``ema_<n>``
        and ``dc_upper_<n>`` / ``dc_lower_<n>`` / ``dc_mid_<n>`` may name any period; names that are no
        feature (OHLCV, ``regime`` ...) need nothing."""
        wanted: set[str] = set()
        ema: list[int] = []
        channels: list[int] = []
        roles = dict(self.ema_roles)
        constants = dict(self.constants)
        for column in columns:
            if column in _GROUPS:
                wanted.add(_GROUPS[column])
                continue
            for prefix, group in _PER_PERIOD.items():
                tail = column[len(prefix):] if column.startswith(prefix) else ""
                if tail.isdigit() and int(tail) > 0:
                    (ema if group == "ema" else channels).append(int(tail))
                elif prefix == "ema_" and tail in EMA_ROLES:
                    if tail not in roles:
                        raise KeyError(f"{column} has no period in this feature spec (ema_roles {self.ema_roles})")
                    wanted.add(column)
        return FeatureSpec(
            rsi=self.rsi if "rsi" in wanted else None, ema=tuple(sorted(set(ema))),
            macd=self.macd if "macd" in wanted else None, bb=self.bb if "bb" in wanted else None,
            atr=self.atr, adx=self.adx, donchian=tuple(sorted(set(channels), reverse=True)),
            volume_sma=self.volume_sma if "volume_sma" in wanted else None,
            ema_roles=tuple((r, p) for r, p in self.ema_roles if f"ema_{r}" in wanted),
            constants=tuple((k, v) for k, v in constants.items() if k in set(columns)),
        )

    def _fill(self, out: np.ndarray, start: int) -> None:
        """The alias and constant columns of ``out`` (a matrix in :attr:`columns` order), from ``start``."""
        where = {c: i for i, c in enumerate(self.columns)}
        for j, (_, column) in enumerate(self.aliases):
            out[:, start + j] = out[:, where[column]]
        for j, (_, value) in enumerate(self.constants):
            out[:, start + len(self.aliases) + j] = value


def compute_features(data: pd.DataFrame, spec: FeatureSpec = FeatureSpec()) -> pd.DataFrame:
    """Every feature column for every bar of an OHLCV frame (the batch form of :class:`FeatureStream`)."""
    out = feature_matrix(_as_matrix(data, list(OHLCV)), spec)
    return pd.DataFrame(out, index=data.index, columns=list(spec.columns), copy=False)


def feature_matrix(bars: np.ndarray, spec: FeatureSpec = FeatureSpec()) -> np.ndarray:
    """:func:`compute_features` as a column-major matrix in ``spec.columns`` order, from the (bars, 5)
    OHLCV matrix: each column a contiguous array that a frame (or a dict of columns) takes without a copy."""
    out = np.empty((bars.shape[0], len(spec.columns)), order="F")
    start = 0
    for ind in spec.indicators():
        ind.run_ohlcv(bars, out[:, start:start + len(ind.columns)])
        start += len(ind.columns)
    spec._fill(out, start)
    return out


def ohlcv_matrix(data: pd.DataFrame) -> np.ndarray:
    """The (bars, 5) float matrix the kernels read, checked for holes (NaN) as the indicators need."""
    return _as_matrix(data, list(OHLCV))


class FeatureStream:
    """Every feature column, one bar at a time: the live engine's form of :func:`compute_features`."""

    def __init__(self, spec: FeatureSpec = FeatureSpec(), streams: list[IndicatorStream] | None = None):
        self.spec = spec
        self._streams = streams if streams is not None else [ind.stream() for ind in spec.indicators()]
        self.columns = spec.columns
        self._computed = self.columns[:len(self.columns) - len(spec.aliases) - len(spec.constants)]

    def update(self, open: float, high: float, low: float, close: float, volume: float) -> dict[str, float]:
        values: list[float] = []
        for s in self._streams:
            values.extend(s.update(open, high, low, close, volume))
        row = dict(zip(self._computed, values))
        for alias, column in self.spec.aliases:
            row[alias] = row[column]
        for name, value in self.spec.constants:
            row[name] = float(value)
        return row

    def get_state(self) -> dict[str, Any]:
        return {"spec": _spec_to_dict(self.spec), "streams": [s.get_state() for s in self._streams]}

    @classmethod
    def from_state(cls, saved: dict[str, Any]) -> FeatureStream:
        spec = _spec_from_dict(saved["spec"])
        streams = [IndicatorStream.from_state(ind, s) for ind, s in zip(spec.indicators(), saved["streams"], strict=True)]
        return cls(spec, streams)


def _spec_to_dict(spec: FeatureSpec) -> dict[str, Any]:
    return {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
            for k, v in spec.__dict__.items()}


def _spec_from_dict(saved: dict[str, Any]) -> FeatureSpec:
    def value(key: str, v: Any) -> Any:
        if key in ("ema_roles", "constants"):
            return tuple(tuple(x) for x in v)
        return tuple(v) if isinstance(v, list) else v

    return FeatureSpec(**{k: value(k, v) for k, v in saved.items()})
