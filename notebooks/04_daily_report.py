# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Daily report
# One UTC day of trades: the live bot's (its `live_trades_<mode>.csv`, or its state store with the decision
# journal), an earlier backtest's trade log, or, with neither given, a backtest of the data. Trades, PnL, win
# rate, profit factor, gross change, daily/weekly/monthly change by symbol, open positions and the signals
# blocked that day. Optionally sends the summary to Slack and Telegram (the channels the settings name).

# %% tags=["parameters"]
date = None            # the UTC day, e.g. "2026-05-16"; None: the day of the last trade kept, or the data's last day
trades_csv = None      # a trade log: the live bot's data/live_trades_<mode>.csv, or a backtest_trades.csv
journal_jsonl = None   # its decision journal (JSON lines), for the blocked signals
state_store = None     # or the live bot's state store: "settings" (the one STATE_STORE names) or a SQLite file
symbols = ["BTCUSDT", "ETHUSDT"]
timeframe = "1h"
data_dir = None        # a folder of binance_usdm_<SYMBOL>_<timeframe>.csv.gz; None: $AUTOBOT_DATA_DIR or the default market
params_file = None
strategy = "autobot"   # autobot | donchian
equity = 10000.0
send = False           # True: send the summary to the configured Slack webhook / Telegram chat
telegram_base_url = "https://api.telegram.org"
output_dir = "reports"

# %%
from autobot_lib import research
from autobot_lib.config import load_settings
from autobot_lib.notify import send_summary
from autobot_lib.report.daily import daily_report, summary_text

settings = load_settings(params_file, STRATEGY=strategy)
day = research.day_inputs(date, settings, trades_csv=trades_csv, journal_jsonl=journal_jsonl, state_store=state_store,
                          symbols=symbols, timeframe=timeframe, data_dir=data_dir, equity=equity)
report = daily_report(day.trades, day.date, journal=day.journal, initial_equity=equity)
print(f"from {day.source}")
print(summary_text(report))

# %% [markdown]
# ## The day

# %%
report.trades

# %%
report.by_symbol

# %% [markdown]
# ## Change by day, week and month

# %%
report.changes

# %% [markdown]
# ## Open at the end of the day, and what was blocked

# %%
report.open_positions

# %%
report.blocks

# %%
send_summary(summary_text(report), settings, telegram_base_url) if send else "not sent (send=False)"
