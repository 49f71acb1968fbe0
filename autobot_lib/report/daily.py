"""The daily report: what happened on one UTC day, from a trade log and a decision journal (backtest or live).

Trades closed that day with their PnL, win rate, profit factor and gross change (PnL over the equity at
the start of the day); daily, weekly and monthly change by day and by symbol; positions open at the end
of the day; the gate blocks and vetoes of the day. :func:`summary_text` is the Donchian bot's Slack
summary (trades, wins/losses, win rate, PF, gross +/- %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from autobot_lib.backtest.metrics import trade_stats
from autobot_lib.data.frame import to_utc


@dataclass(frozen=True)
class DailyReport:
    date: pd.Timestamp
    trades: pd.DataFrame          # closed that day
    summary: dict
    by_symbol: pd.DataFrame
    changes: pd.DataFrame         # daily / weekly / monthly PnL change, by symbol
    open_positions: pd.DataFrame
    blocks: pd.Series             # gate and veto reasons of the day, counted


def daily_report(trades: pd.DataFrame, date, *, journal: pd.DataFrame | None = None,
                 initial_equity: float = 10_000.0) -> DailyReport:
    day = to_utc(date).normalize()
    end = day + pd.Timedelta(days=1)
    closed = trades[(trades["exit_time"] >= day) & (trades["exit_time"] < end)]
    before = trades[trades["exit_time"] < day]["pnl"].sum()
    start_equity = initial_equity + before
    stats = trade_stats(closed["pnl"])
    summary = {"date": day.date().isoformat(), "trades": stats["trades"], "wins": int((closed["pnl"] > 0).sum()),
               "losses": int((closed["pnl"] < 0).sum()), "win_rate": stats["win_rate"],
               "profit_factor": stats["profit_factor"], "pnl": float(closed["pnl"].sum()),
               "gross_change": float(closed["pnl"].sum() / start_equity) if start_equity else np.nan,
               "fees": float(closed["fees"].sum()), "funding": float(closed["funding"].sum())}
    by_symbol = closed.groupby("symbol").agg(trades=("pnl", "size"), pnl=("pnl", "sum"),
                                             wins=("pnl", lambda p: int((p > 0).sum())))
    periods = {"day": (day, end), "week": (day - pd.Timedelta(days=day.day_of_week), end),
               "month": (day.replace(day=1), end)}
    changes = pd.DataFrame({name: trades[(trades["exit_time"] >= lo) & (trades["exit_time"] < hi)]
                           .groupby("symbol")["pnl"].sum() for name, (lo, hi) in periods.items()}).fillna(0.0)
    if len(changes):
        changes.loc["ALL"] = changes.sum()
        changes[[f"{c}_pct" for c in periods]] = changes[list(periods)] / start_equity
    open_positions = trades[(trades["entry_time"] < end) & (trades["exit_time"] >= end)][
        ["symbol", "side", "entry_time", "entry_price", "qty"]]
    blocks = pd.Series(dtype="int64")
    if journal is not None and len(journal):
        today = journal[(journal["timestamp"] >= day) & (journal["timestamp"] < end)]
        outcome = today["outcome"].astype(str)
        blocks = outcome[outcome.str.startswith(("gate:", "veto:", "size:"))].value_counts()
    return DailyReport(day, closed, summary, by_symbol, changes, open_positions, blocks)


def summary_text(report: DailyReport) -> str:
    s = report.summary
    pf = "n/a" if s["profit_factor"] != s["profit_factor"] else f"{s['profit_factor']:.2f}"
    rate = "n/a" if s["win_rate"] != s["win_rate"] else f"{s['win_rate']:.0%}"
    return (f"AUTOBOT daily report {s['date']}: {s['trades']} trades ({s['wins']} won, {s['losses']} lost), "
            f"win rate {rate}, PF {pf}, PnL {s['pnl']:+,.2f} ({s['gross_change']:+.2%}), "
            f"{len(report.open_positions)} open position(s), {int(report.blocks.sum()) if len(report.blocks) else 0} "
            "blocked or vetoed signal(s)")
