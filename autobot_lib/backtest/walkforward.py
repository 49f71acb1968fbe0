"""Train/test split and walk-forward: tune on each train window, trade the next window out of sample.

- :func:`make_folds` cuts a time index into (train, test) windows, rolling (a train window of fixed
  length slides forward) or anchored (the train window always starts at the beginning);
- :func:`walk_forward` evaluates every parameter combination of a grid on every train window, picks the
  best by an objective metric, then runs the event-driven engine out of sample on the test window with
  it (indicators warmed up on the bars before, never trading on them), stitches the out-of-sample equity
  and reports how stable the chosen parameters were across folds.

The (fold, combination) evaluations are independent tasks for Dask: a LocalCluster by default, a running
scheduler with ``scheduler="tcp://host:port"``, or ``scheduler="sync"`` to stay in this process.
Settings travel to workers as plain values without their secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from autobot_lib.backtest.cluster import run_tasks
from autobot_lib.backtest.engine import run_backtest
from autobot_lib.backtest.metrics import report
from autobot_lib.config import Settings, load_settings

_SECRETS = {"BINANCE_API_KEY", "BINANCE_API_SECRET", "TELEGRAM_BOT_TOKEN", "SLACK_WEBHOOK_URL", "REDIS_PASSWORD"}
OBJECTIVES = ("sharpe_annualised", "total_return", "profit_factor", "expectancy", "sortino_annualised")


@dataclass(frozen=True)
class Fold:
    number: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp       # inclusive
    test_start: pd.Timestamp
    test_end: pd.Timestamp        # inclusive


def make_folds(index: pd.DatetimeIndex, train_bars: int, test_bars: int, *, anchored: bool = False,
               step_bars: int | None = None) -> list[Fold]:
    """Consecutive folds: train on ``train_bars`` (or everything so far, anchored), test on the next
    ``test_bars``; the next fold starts ``step_bars`` later (default: one test window)."""
    if train_bars < 50 or test_bars < 10:
        raise ValueError(f"train_bars must be >= 50 and test_bars >= 10, got {train_bars} and {test_bars}")
    step = step_bars or test_bars
    folds, start = [], 0
    while start + train_bars + test_bars <= len(index):
        train_from = 0 if anchored else start
        train_to = start + train_bars - 1
        folds.append(Fold(len(folds) + 1, index[train_from], index[train_to], index[train_to + 1],
                          index[train_to + test_bars]))
        start += step
    if not folds:
        raise ValueError(f"{len(index)} bars are too few for one fold of {train_bars} train + {test_bars} test bars")
    return folds


def train_test_split(index: pd.DatetimeIndex, train_share: float = 0.7) -> Fold:
    """One fold: the first ``train_share`` of the bars to tune, the rest to test."""
    if not 0.1 <= train_share <= 0.95:
        raise ValueError(f"train_share must be between 0.1 and 0.95, got {train_share}")
    cut = int(len(index) * train_share)
    return Fold(1, index[0], index[cut - 1], index[cut], index[-1])


def grid_combinations(grid: Mapping[str, Iterable[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values: {"ACTIVATION_THRESHOLD": [0.4, 0.5], ...} -> list of dicts.
    Keys are settings names; ``donchian.channel_len`` sets a key of the donchian section."""
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    if not keys or any(not v for v in values):
        raise ValueError("the grid needs at least one setting with at least one value")
    return [dict(zip(keys, combo)) for combo in product(*values)]


def _apply(base: dict[str, Any], combo: dict[str, Any]) -> dict[str, Any]:
    values = {**base, "donchian": dict(base.get("donchian", {}))}
    for key, value in combo.items():
        if key.startswith("donchian."):
            values["donchian"][key.split(".", 1)[1]] = value
        else:
            values[key] = value
    return values


def evaluate(bars: Mapping[str, pd.DataFrame], values: dict[str, Any], start: pd.Timestamp, end: pd.Timestamp,
             warmup: pd.Timestamp, objective: str, equity: float = 10_000.0) -> dict[str, Any]:
    """One backtest on [start, end] (indicators warmed from ``warmup``), summarised. Runs on a worker."""
    settings = load_settings(env_file=None, config_json=None, **values)
    window = {s: f.loc[warmup:end] for s, f in bars.items()}
    for s, f in window.items():
        f.attrs.update(bars[s].attrs)
    result = run_backtest(window, settings, trade_from=start, equity=equity)
    metrics = report(result.trades, result.equity["equity"], result.initial_equity)
    return {"metrics": metrics, "score": metrics.get(objective, np.nan), "equity": result.equity["equity"],
            "trades": len(result.trades)}


@dataclass(frozen=True)
class WalkForwardResult:
    folds: pd.DataFrame            # per fold: windows, chosen parameters, in-sample and out-of-sample metrics
    oos_equity: pd.Series          # stitched out-of-sample equity, compounding fold by fold
    stability: pd.DataFrame        # per parameter: distinct values chosen, most common and its share
    objective: str

    def summary(self) -> dict[str, float]:
        e = self.oos_equity
        return {"folds": len(self.folds), "oos_return": float(e.iloc[-1] / e.iloc[0] - 1),
                "oos_max_drawdown": float((1 - e / e.cummax()).max()),
                "oos_trades": int(self.folds["oos_trades"].sum())}


def walk_forward(bars: Mapping[str, pd.DataFrame] | pd.DataFrame, settings: Settings, grid: Mapping[str, Iterable],
                 folds: list[Fold], *, objective: str = "sharpe_annualised", warmup_bars: int = 600, scheduler: str | None = None, progress: bool = True,
                 equity: float = 10_000.0) -> WalkForwardResult:
    if isinstance(bars, pd.DataFrame):
        bars = {bars.attrs.get("symbol") or "SYMBOL": bars}
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    combos = grid_combinations(grid)
    base = settings.model_dump(exclude=_SECRETS)
    index = next(iter(bars.values())).index
    warm = pd.Timedelta(index[1] - index[0]) * warmup_bars

    def warmup(t):  # bars before t used only to warm the indicators up
        return max(index[0], t - warm)

    jobs = [(f, c, (_apply(base, combo), f.train_start, f.train_end, warmup(f.train_start), objective, equity)) for f in folds for c, combo in enumerate(combos)]
    results = run_tasks(evaluate, [args for *_, args in jobs], shared=dict(bars), scheduler=scheduler,
                        progress=progress, desc="train")

    rows, curves, capital = [], [], 1.0
    for f in folds:
        scored = [(results[i]["score"], c) for i, (fold, c, _) in enumerate(jobs) if fold is f]
        finite = [(s, c) for s, c in scored if s == s]
        best_score, best = max(finite) if finite else (np.nan, 0)
        chosen = combos[best]
        oos = evaluate(bars, _apply(base, chosen), f.test_start, f.test_end, warmup(f.test_start), objective, equity)
        curve = oos["equity"] / oos["equity"].iloc[0] * capital
        capital = float(curve.iloc[-1])
        curves.append(curve)
        rows.append({"fold": f.number, "train_start": f.train_start, "train_end": f.train_end,
                     "test_start": f.test_start, "test_end": f.test_end, **chosen, f"is_{objective}": best_score,
                     f"oos_{objective}": oos["score"], "oos_return": oos["metrics"]["total_return"],
                     "oos_max_drawdown": oos["metrics"]["max_drawdown"], "oos_trades": oos["trades"]})
    table = pd.DataFrame(rows)
    stitched = pd.concat(curves)
    stitched = stitched[~stitched.index.duplicated(keep="last")] * equity
    stability = pd.DataFrame([{"parameter": k, "distinct_values": table[k].nunique(),
                               "most_common": table[k].mode().iloc[0],
                               "share_of_folds": float((table[k] == table[k].mode().iloc[0]).mean())}
                              for k in (combos[0] if combos else {})]).set_index("parameter")
    return WalkForwardResult(table, stitched.rename("oos_equity"), stability, objective)
