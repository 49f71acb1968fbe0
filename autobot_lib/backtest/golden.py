"""Golden regression, like the Donchian bot's baseline.json: decisions, stops and reasons for fixed real
data and parameters, and the headline metrics.

    autobot baseline --data-dir ../shared/data/ohlcv --output tests/golden/baseline.json

writes it; ``tests/test_golden.py`` regenerates it from the same data and requires every decision to
match exactly and every metric within 1e-2 (relative or absolute). The candles themselves are not
copied: each input is named with its first and last bar, its length and a SHA-256 of its values, so a
changed data file is reported as such rather than as a changed decision.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from autobot_lib._fs import write_text_atomic
from autobot_lib.backtest.engine import run_backtest
from autobot_lib.backtest.report import generate_report
from autobot_lib.config import load_settings
from autobot_lib.data.io import load_ohlcv

SYMBOLS = ("BTCUSDT", "ETHUSDT")
BARS = 3000
RUNS = {  # name: settings overrides; thresholds chosen so each run makes enough decisions to pin down
    "autobot": {"ACTIVATION_THRESHOLD": 0.45, "MAX_DRAWDOWN": 1.0, "MAX_POSITIONS": 2},
    "donchian": {"STRATEGY": "donchian", "MAX_DRAWDOWN": 1.0, "MAX_POSITIONS": 2},
}
METRICS = ("trades", "win_rate", "expectancy", "max_drawdown", "profit_factor", "sharpe", "final_equity")
TOLERANCE = 1e-2


def _inputs(data_dir: Path, symbols: tuple[str, ...], bars: int) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    frames, described = {}, {}
    for symbol in symbols:
        path = data_dir / f"binance_usdm_{symbol}_1h.csv.gz"
        frame = load_ohlcv(path, gaps="ignore").iloc[-bars:]
        frames[symbol] = frame
        described[symbol] = {"file": path.name, "first": str(frame.index[0]), "last": str(frame.index[-1]),
                             "bars": len(frame), "sha256": hashlib.sha256(frame.to_numpy().tobytes()).hexdigest()}
    return frames, described


def _decisions(journal: pd.DataFrame) -> list[dict[str, Any]]:
    """Every bar where something was decided: a proposal, a position step, an order."""
    rows = journal[journal["intents"].apply(lambda x: isinstance(x, list) and len(x) > 0)
                   | journal["outcome"].str.startswith(("gate:", "veto:", "size:"))]
    return [{"timestamp": str(r.timestamp), "symbol": r.symbol, "outcome": r.outcome, "proposal": r.proposal,
             "stops_and_orders": [{k: i[k] for k in ("kind", "side", "qty", "stop_price", "take_profit", "reason")}
                                  for i in (r.intents or [])],
             "exits": [e["reason"] for e in (r.exits or [])]}
            for r in rows.itertuples()]


def generate(data_dir: str | Path, symbols: tuple[str, ...] = SYMBOLS, bars: int = BARS) -> dict[str, Any]:
    frames, described = _inputs(Path(data_dir), symbols, bars)
    runs = {}
    for name, overrides in RUNS.items():
        result = run_backtest(frames, load_settings(env_file=None, config_json=None, **overrides))
        metrics = generate_report(result.trades, result.equity["equity"], result.initial_equity).iloc[0]
        runs[name] = {"settings": overrides, "decisions": _decisions(result.journal),
                      "metrics": {k: float(metrics[k]) for k in METRICS}}
    return {"version": 1, "timeframe": "1h", "inputs": described, "runs": runs}


def write(baseline: dict[str, Any], path: str | Path) -> Path:
    return write_text_atomic(path, json.dumps(baseline, indent=1, sort_keys=True) + "\n")


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Every difference, in words (empty: the regression holds)."""
    problems = []
    for symbol, spec in expected["inputs"].items():
        if actual["inputs"].get(symbol) != spec:
            problems.append(f"input {symbol} changed: {spec} -> {actual['inputs'].get(symbol)}")
    for name, run in expected["runs"].items():
        got = actual["runs"].get(name)
        if got is None:
            problems.append(f"run {name} missing")
            continue
        want, have = run["decisions"], got["decisions"]
        for i, (a, b) in enumerate(zip(want, have)):
            if a != b:
                problems.append(f"{name}: decision {i} differs: expected {a}, got {b}")
                break
        if len(want) != len(have):
            problems.append(f"{name}: {len(want)} decisions expected, {len(have)} made")
        for key, value in run["metrics"].items():
            new = got["metrics"][key]
            if not (math.isclose(new, value, rel_tol=TOLERANCE, abs_tol=TOLERANCE) or (value != value and new != new)):
                problems.append(f"{name}: metric {key} {value} -> {new}")
    return problems


# --- the golden notebook: nbval compares the stable cells' outputs strictly ---------------------------------

NOTEBOOK = "02_backtest"
NOTEBOOK_PARAMETERS = {"symbols": ["BTCUSDT", "ETHUSDT"], "start": "2025-01-01", "end": "2026-05-01"}
STABLE_CELL = "generate_report(result.trades"   # the metrics table: fixed data and settings, fixed numbers


def write_notebook(data_dir: str | Path, path: str | Path) -> Path:
    """Execute notebooks/02_backtest on fixed real data (read through $AUTOBOT_DATA_DIR, so no machine path is
    stored) and keep it as nbval's reference: the metrics cell checked, every other cell's output ignored."""
    import os
    import tempfile

    import nbformat

    from autobot_lib.notebooks import run_notebook

    previous = os.environ.get("AUTOBOT_DATA_DIR")
    os.environ["AUTOBOT_DATA_DIR"] = str(Path(data_dir).resolve())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            executed = run_notebook(NOTEBOOK, dict(NOTEBOOK_PARAMETERS), out_dir=tmp, date="golden")["notebook"]
            nb = nbformat.read(executed, as_version=4)
    finally:
        if previous is None:
            os.environ.pop("AUTOBOT_DATA_DIR", None)
        else:
            os.environ["AUTOBOT_DATA_DIR"] = previous
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = [t for t in cell.metadata.get("tags", []) if not t.startswith("nbval")]
        stable = STABLE_CELL in cell.source
        tags.append("nbval-check-output" if stable else "nbval-ignore-output")
        cell.metadata["tags"] = tags
        if not stable:
            cell.outputs = []
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    path = Path(path)
    write_text_atomic(path, nbformat.writes(nb))
    return path
