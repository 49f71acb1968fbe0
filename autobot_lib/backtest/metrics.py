"""Performance metrics: pure functions over a trades frame and an equity curve.

The Donchian bot's Reporting section, as it defines each figure:
- trade count; win rate = wins / trades; payoff ratio (RRR) = avg(win) / |avg(loss)|;
- expectancy = win_rate x avg(win) - loss_rate x |avg(loss)| (quote currency per trade);
- max drawdown = the largest peak-to-trough fall of equity, as a ratio of the peak;
- profit factor = gross profit / gross loss;
- Sharpe = mean(trade returns) / std(trade returns), not annualised (trade return = PnL over the equity
  when the trade was opened);
- win/loss streaks, average holding time, the long/short split, daily/weekly/monthly returns.
Added: annualised Sharpe and Sortino of daily equity returns (365 trading days: crypto never closes),
per-regime and per-rule breakdowns, and R-multiple statistics (SQN = sqrt(n) x mean R / std R).
A trade with PnL exactly 0 counts as neither win nor loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 365


def _safe_div(a: float, b: float) -> float:
    return a / b if b else np.nan


def trade_stats(pnl: pd.Series) -> dict[str, float]:
    """Count, win rate, averages, payoff, expectancy and profit factor of a series of trade PnLs."""
    pnl = pd.Series(pnl, dtype="float64")
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    n = len(pnl)
    win_rate = _safe_div(len(wins), n)
    loss_rate = _safe_div(len(losses), n)
    avg_win = wins.mean() if len(wins) else 0.0
    avg_loss = abs(losses.mean()) if len(losses) else 0.0
    return {
        "trades": n,
        "win_rate": win_rate,
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": _safe_div(avg_win, avg_loss),
        "expectancy": (win_rate * avg_win - loss_rate * avg_loss) if n else np.nan,
        "profit_factor": _safe_div(wins.sum(), abs(losses.sum())),
        "net_pnl": pnl.sum(),
    }


def streaks(pnl: pd.Series) -> tuple[int, int]:
    """The longest runs of consecutive wins and of consecutive losses (a zero trade breaks both)."""
    best = {1: 0, -1: 0}
    run, last = 0, 0
    for sign in np.sign(np.asarray(pnl, dtype=float)):
        run = run + 1 if sign == last and sign != 0 else (1 if sign != 0 else 0)
        last = sign
        if sign != 0:
            best[int(sign)] = max(best[int(sign)], run)
    return best[1], best[-1]


def max_drawdown(equity: pd.Series) -> float:
    peak = equity.cummax()
    return float((1 - equity / peak).max()) if len(equity) else 0.0


def periodic_returns(equity: pd.Series, rule: str) -> pd.Series:
    """Compounded returns by calendar period: 'D' daily, 'W' weekly (to Sunday), 'ME' monthly."""
    closes = equity.resample(rule).last().dropna()
    previous = pd.concat([pd.Series([equity.iloc[0]], index=[closes.index[0] - pd.Timedelta(1, "ns")]), closes])
    return (closes / previous.shift(1).iloc[1:].to_numpy() - 1).rename("return")


def sharpe_sortino(daily: pd.Series, periods: int = PERIODS_PER_YEAR) -> tuple[float, float]:
    r = daily.dropna()
    if len(r) < 2 or r.std(ddof=1) == 0:
        return np.nan, np.nan
    sharpe = r.mean() / r.std(ddof=1) * np.sqrt(periods)
    downside = np.sqrt((np.minimum(r, 0) ** 2).mean())
    return float(sharpe), float(r.mean() / downside * np.sqrt(periods)) if downside else np.nan


def r_stats(r: pd.Series) -> dict[str, float]:
    r = pd.Series(r, dtype="float64").dropna()
    n = len(r)
    std = r.std(ddof=1) if n > 1 else np.nan
    return {"mean_r": r.mean() if n else np.nan, "median_r": r.median() if n else np.nan, "std_r": std,
            "best_r": r.max() if n else np.nan, "worst_r": r.min() if n else np.nan,
            "sqn": float(np.sqrt(n) * r.mean() / std) if n > 1 and std else np.nan}


def trade_returns(trades: pd.DataFrame, equity: pd.Series) -> pd.Series:
    """Each trade's PnL over the equity when it was opened (the seed's Sharpe uses these)."""
    before = equity.reindex(trades["entry_time"], method="ffill").to_numpy()
    return pd.Series(trades["pnl"].to_numpy() / before, index=trades.index)


def report(trades: pd.DataFrame, equity: pd.Series, initial_equity: float) -> dict[str, Any]:
    """Every headline metric as one flat dict (see the module docstring for definitions)."""
    stats = trade_stats(trades["pnl"])
    returns = trade_returns(trades, equity) if len(trades) else pd.Series(dtype=float)
    daily = periodic_returns(equity, "D") if len(equity) else pd.Series(dtype=float)
    sharpe_ann, sortino_ann = sharpe_sortino(daily)
    wins, losses = streaks(trades["pnl"])
    holding = (trades["exit_time"] - trades["entry_time"]).mean() if len(trades) else pd.NaT
    years = (equity.index[-1] - equity.index[0]) / pd.Timedelta(days=365) if len(equity) > 1 else np.nan
    final = float(equity.iloc[-1]) if len(equity) else initial_equity
    out = {
        **stats,
        "final_equity": final,
        "total_return": final / initial_equity - 1,
        "cagr": (final / initial_equity) ** (1 / years) - 1 if years and years > 0 and final > 0 else np.nan,
        "max_drawdown": max_drawdown(equity),
        "sharpe": float(returns.mean() / returns.std(ddof=1)) if len(returns) > 1 and returns.std(ddof=1) else np.nan,
        "sharpe_annualised": sharpe_ann,
        "sortino_annualised": sortino_ann,
        "max_win_streak": wins,
        "max_loss_streak": losses,
        "avg_holding_seconds": holding.total_seconds() if holding is not pd.NaT else np.nan,
        "fees": float(trades["fees"].sum()) if len(trades) else 0.0,
        "funding": float(trades["funding"].sum()) if len(trades) else 0.0,
        **r_stats(trades["r_multiple"] if len(trades) else pd.Series(dtype=float)),
    }
    return out


def breakdown(trades: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per side, regime or rule: trades, win rate, expectancy, profit factor, net PnL, mean R.

    ``by="side"`` is the long/short split; ``"entry_regime"`` per regime; ``"rule"`` credits each trade
    to every rule that fired at its entry."""
    frame = trades
    key = by
    if by == "rule":
        frame = trades.assign(rule=trades["entry_rules"].fillna("").str.split(",")).explode("rule")
        frame = frame[frame["rule"] != ""]
    rows = {}
    for value, group in frame.groupby(key, dropna=False):
        s = trade_stats(group["pnl"])
        rows[value] = {"trades": s["trades"], "win_rate": s["win_rate"], "expectancy": s["expectancy"],
                       "profit_factor": s["profit_factor"], "net_pnl": s["net_pnl"],
                       "mean_r": group["r_multiple"].mean()}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out


def period_table(equity: pd.Series) -> pd.DataFrame:
    """Daily, weekly and monthly returns side by side, each on its own calendar."""
    return pd.concat({"daily": periodic_returns(equity, "D"), "weekly": periodic_returns(equity, "W"),
                      "monthly": periodic_returns(equity, "ME")}, axis=1)
