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
# # 05 · Live session
# The trading bot in this kernel: pick the mode (DRY_RUN, TESTNET = Binance demo trading, LIVE behind its
# confirmation), the venue (the local venue replaying real bars, or Binance), the symbols and the risk
# knobs, then **Start**. The view follows every closed bar: candles with entries, exits and the stop,
# equity, positions with their protective orders on the exchange, the latest decisions, the signal funnel
# and the alerts. **Pause / Resume / Flatten all / Kill switch / Re-arm** are the same commands the CLI,
# Telegram and the MCP server use. Headless (papermill, nbval), it runs for `duration_s` and ends with a
# summary.

# %% tags=["parameters"]
mode = "DRY_RUN"             # DRY_RUN | TESTNET | LIVE (LIVE also needs the confirmation box ticked)
venue = "local"              # local: a venue on 127.0.0.1 replaying real bars | binance (needs internet)
symbols = ["BTCUSDT"]
timeframe = "1h"
strategy = "donchian"        # donchian | autobot
risk_per_trade = 0.01
leverage = 5
activation_threshold = 0.7
allow_long = True
allow_short = True
data_dir = None              # binance_usdm_<SYMBOL>_<timeframe>.csv.gz files; None: $AUTOBOT_DATA_DIR or the default market
replay_speed = 8.0           # local venue: bars per second
duration_s = 20.0            # headless run length; None: until stopped (interactive: use Start instead)
interactive = False          # True: show the panel and let the buttons drive it
output_dir = "reports"       # the session's journal and trades are written here (notebook 04 reads them)
params_file = None           # settings (see params/default.yaml); the widgets' values override theirs

# %%
import plotly.io as pio
from IPython.display import display

from autobot_lib.live.panel import LivePanel

pio.renderers.default = "plotly_mimetype+notebook"   # live in JupyterLab, and kept in the HTML export

panel = LivePanel(symbols, mode=mode, venue=venue, timeframe=timeframe, strategy=strategy,
                  risk_per_trade=risk_per_trade, leverage=leverage, activation_threshold=activation_threshold,
                  allow_long=allow_long, allow_short=allow_short, data_dir=data_dir, replay_speed=replay_speed,
                  params_file=params_file)
display(panel.view())

# %%
summary = None if interactive else await panel.run(duration_s)  # noqa: F704 (the kernel awaits)
saved = panel.save(output_dir) if summary else {}
summary, saved

# %% [markdown]
# The session's chart as it ended (a static copy, so the exported page shows it):

# %%
if summary:
    panel.static_figure().show()
