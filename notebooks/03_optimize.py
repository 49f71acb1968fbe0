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
# # 03 · Optimize
# A Donchian parameter sweep on the vectorbt fast path (heatmaps), then a walk-forward of the AUTOBOT
# rules through the event-driven engine: tuned on each train window, traded out of sample, stitched, and
# checked for parameter stability.

# %% tags=["parameters"]
symbols = ["BTCUSDT"]
timeframe = "1h"
start = None
end = None
data_dir = None        # a folder of binance_usdm_<SYMBOL>_<timeframe>.csv.gz; None: $AUTOBOT_DATA_DIR or the default market
params_file = None
strategy = "autobot"   # autobot | donchian
entries = [10, 20, 30, 55]   # Donchian entry channels to sweep
exits = [5, 10, 20]          # and exit channels
metric = "sharpe"
grid = {"ACTIVATION_THRESHOLD": [0.5, 0.6, 0.7]}   # walk-forward: settings to tune
train_bars = 1500
test_bars = 500
objective = "sharpe_annualised"
scheduler = "sync"     # "sync" in this process; None: a local Dask cluster; "tcp://host:port": a real one
output_dir = "reports"

# %%
import plotly.io as pio

from autobot_lib import research
from autobot_lib.backtest.sweep import heatmap, sweep_donchian
from autobot_lib.backtest.walkforward import make_folds, walk_forward
from autobot_lib.config import load_settings
from autobot_lib.data import market_data

pio.renderers.default = "plotly_mimetype+notebook"
settings = load_settings(params_file, STRATEGY=strategy)
bars = market_data(symbols, timeframe, data_dir=data_dir, start=start, end=end)

# %% [markdown]
# ## Sweep: Donchian (entry, exit) channels

# %%
table = sweep_donchian(bars, entries, exits)
heatmap(table, metric).show()
table.sort_values(metric, ascending=False).head(10)

# %% [markdown]
# ## Walk-forward: tune, then trade out of sample

# %%
folds = make_folds(next(iter(bars.values())).index, train_bars, test_bars)
result = walk_forward(bars, settings, grid, folds, objective=objective, scheduler=scheduler, progress=False)
research.walk_forward_figure(result).show()
result.summary()

# %%
result.folds

# %%
result.stability
