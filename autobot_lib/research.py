"""What the research notebooks call: tables, figures and widgets over the library, so that a notebook is
a list of calls and holds no logic of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from autobot_lib.config import Settings
from autobot_lib.data import Problem, label, validate_frame
from autobot_lib.pipeline import build_features
from autobot_lib.regime import regime_stats
from autobot_lib.report import market_figure


def quality_table(bars: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per symbol: bars, period, gaps, missing bars, zero-volume bars, errors, source."""
    rows = {}
    for symbol, frame in bars.items():
        r = validate_frame(frame)
        rows[symbol] = {"bars": r.rows, "first": r.first, "last": r.last, "timeframe": r.timeframe,
                        "gaps": len(r.gaps), "missing_bars": r.missing_bars,
                        "zero_volume_bars": r.count(Problem.ZERO_VOLUME),
                        "errors": len(r.errors), "synthetic": bool(frame.attrs.get("synthetic")),
                        "source": frame.attrs.get("source", "")}
    return pd.DataFrame.from_dict(rows, orient="index")


def features_for(bars: Mapping[str, pd.DataFrame], settings: Settings) -> dict[str, pd.DataFrame]:
    from autobot_lib.plan import compile_plan

    plan = compile_plan(settings)
    return {s: build_features(f, plan.features, plan.regime) for s, f in bars.items()}


def regime_table(bars: Mapping[str, pd.DataFrame], features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Share of time, episodes, mean duration and forward returns by regime, per symbol."""
    tables = {s: regime_stats(features[s]["regime"].astype("category"), bars[s]["close"]) for s in bars}
    table = pd.concat(tables, names=["symbol"])
    table["mean_duration"] = table["mean_duration"].astype(str)
    return table


def chart(symbol: str, bars: Mapping[str, pd.DataFrame], features: Mapping[str, pd.DataFrame], last: int = 1500):
    frame = bars[symbol]
    return market_figure(frame, features[symbol], features[symbol]["regime"],
                         title=label(frame, f"{symbol} {frame.attrs.get('timeframe', '')}: indicators and regimes"),
                         last=last)


def _on_change(controls: dict, draw, hint: str):
    """Controls and an output that redraws only when a control changes. Nothing is drawn at creation:
    headless runs (papermill, nbval) stall on a large figure inside a widget, and the charts are already
    shown by the cells above."""
    import ipywidgets as w
    from IPython.display import display

    out = w.Output()
    with out:
        print(hint)

    def redraw(_change=None) -> None:
        out.clear_output(wait=True)
        with out:
            draw(**{name: control.value for name, control in controls.items()})

    for control in controls.values():
        control.observe(redraw, names="value")
    box = w.VBox([w.HBox(list(controls.values())), out])
    display(box)
    return box


def market_explorer(bars: Mapping[str, pd.DataFrame], features: Mapping[str, pd.DataFrame]):
    """A symbol picker and a window slider over :func:`chart` (JupyterLab)."""
    import ipywidgets as w

    longest = max(len(f) for f in bars.values())
    controls = {"symbol": w.Dropdown(options=list(bars), description="symbol"),
                "last": w.IntSlider(value=min(1500, longest), min=100, max=longest, step=100, description="bars",
                                    continuous_update=False)}
    return _on_change(controls, lambda symbol, last: chart(symbol, bars, features, last).show(),
                      "Pick a symbol or move the slider to draw its chart.")


def backtest_explorer(bars: Mapping[str, pd.DataFrame], settings: Settings):
    """Sliders for the activation threshold and the stop multiple; each change reruns the backtest and shows
    its headline metrics and equity (JupyterLab)."""
    import ipywidgets as w
    from IPython.display import display

    from autobot_lib.backtest import run_backtest
    from autobot_lib.backtest.report import equity_figure, generate_report
    from autobot_lib.config import load_settings

    def run(threshold: float, stop_k: float) -> None:
        values = settings.model_dump()
        values.update(ACTIVATION_THRESHOLD=threshold, STOP_ATR_MULTIPLIER=stop_k)
        result = run_backtest(dict(bars), load_settings(env_file=None, config_json=None, **values))
        display(generate_report(result.trades, result.equity["equity"], result.initial_equity)[
            ["trades", "win_rate", "profit_factor", "total_return", "max_drawdown", "sharpe_annualised"]])
        equity_figure(result).show()

    controls = {"threshold": w.FloatSlider(value=settings.ACTIVATION_THRESHOLD, min=0.1, max=1.0, step=0.05,
                                           description="threshold", continuous_update=False),
                "stop_k": w.FloatSlider(value=settings.STOP_ATR_MULTIPLIER, min=0.5, max=5.0, step=0.25,
                                        description="stop ATR", continuous_update=False)}
    return _on_change(controls, run, "Move a slider to rerun the backtest with those settings.")


def journal_excerpt(journal: pd.DataFrame, rows: int = 20) -> pd.DataFrame:
    """The latest decisions that were more than 'nothing to do': proposals, blocks, orders, exits."""
    interesting = journal[~journal["outcome"].isin(["neutral", "warmup", "below_threshold"])]
    columns = [c for c in ("timestamp", "symbol", "outcome", "proposal", "bias", "confidence", "regime", "gate",
                           "vetoes") if c in interesting.columns]
    return interesting[columns].tail(rows)


@dataclass(frozen=True)
class DayInputs:
    """What notebook 04 reports on: a trade log, its decision journal, the day, and where they came from."""

    trades: pd.DataFrame
    journal: pd.DataFrame | None
    date: str
    source: str


def day_inputs(date: str | None, settings: Settings, *, trades_csv: str | None = None,
               journal_jsonl: str | None = None, state_store: str | None = None,
               symbols: Sequence[str] = ("BTCUSDT",), timeframe: str = "1h", data_dir: str | None = None,
               equity: float = 10_000.0) -> DayInputs:
    """The trades the live bot kept, from its state store (``state_store``: "settings" for the store the
    settings name, or a SQLite file) or a trade log CSV (``trades_csv``: the bot's live_trades_<mode>.csv, or
    a backtest's); with neither, a backtest of the data. ``date`` None: the day of the last closed trade
    (kept trades) or the last complete day of the data (backtest)."""
    from autobot_lib.journal import read_journal
    from autobot_lib.live.trade_log import read_trade_log

    if state_store:
        return _from_store(date, state_store, settings)
    if trades_csv:
        trades = read_trade_log(trades_csv)
        return DayInputs(trades, read_journal(journal_jsonl) if journal_jsonl else None,
                         date or last_exit_day(trades), f"the trade log {trades_csv}")
    from autobot_lib.backtest import run_backtest
    from autobot_lib.data import market_data

    bars = market_data(list(symbols), timeframe, data_dir=data_dir)
    result = run_backtest(dict(bars), settings, equity=equity)
    return DayInputs(result.trades, result.journal, date or last_day(result.trades, bars),
                     f"a backtest of {', '.join(bars)} {timeframe} (no trade log or state store given)")


def _from_store(date: str | None, state_store: str, settings: Settings) -> DayInputs:
    from autobot_lib.journal import journal_frame
    from autobot_lib.live.trade_log import kept_trades
    from autobot_lib.state import SQLiteStore, open_store

    if state_store != "settings" and not Path(state_store).is_file():
        raise FileNotFoundError(f"state_store {state_store!r}: no such SQLite file; give the bot's STATE_DB_PATH, "
                                "or 'settings' for the store the settings name (STATE_STORE, REDIS_*)")
    store = open_store(settings) if state_store == "settings" else SQLiteStore(state_store)
    try:
        trades = kept_trades(store)
        day = date or last_exit_day(trades)
        journal = journal_frame(store.read_journal(since=day))
    finally:
        store.close()
    return DayInputs(trades, journal, day, f"the trades kept in {store!r}")


def last_exit_day(trades: pd.DataFrame) -> str:
    """The UTC day of the last closed trade; yesterday when there is none."""
    last = trades["exit_time"].max() if len(trades) else pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=1)
    return last.date().isoformat()


def last_day(trades: pd.DataFrame, bars: Mapping[str, pd.DataFrame]) -> str:
    """The last complete UTC day of the data (the default report date)."""
    end = max(f.index[-1] for f in bars.values())
    return (end.normalize() - pd.Timedelta(days=1)).date().isoformat()


def walk_forward_figure(result):
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=result.oos_equity.index, y=result.oos_equity, name="out-of-sample equity"))
    for fold in result.folds.itertuples():
        figure.add_vline(x=fold.test_start, line=dict(width=1, dash="dot", color="#b2bec3"))
    figure.update_layout(template="plotly_white", height=420, title="stitched out-of-sample equity")
    return figure
