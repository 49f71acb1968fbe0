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
# # 01 · Explore the market
# Load and check the data for the chosen symbols, then look at the indicators and the regimes the
# pipeline sees. Every computation lives in `autobot_lib`: this notebook only calls it.

# %% tags=["parameters"]
symbols = ["BTCUSDT", "ETHUSDT"]
timeframe = "1h"
start = None        # first bar, a UTC date such as "2025-01-01"; None: the start of the data
end = None          # last bar; None: the end of the data
data_dir = None     # a folder of binance_usdm_<SYMBOL>_<timeframe>.csv.gz; None: $AUTOBOT_DATA_DIR or the default market
params_file = None  # a params YAML (settings: indicator periods, regime thresholds)
output_dir = "reports"
chart_bars = 1500

# %%
import plotly.io as pio

from autobot_lib import research
from autobot_lib.config import load_settings
from autobot_lib.data import market_data

pio.renderers.default = "plotly_mimetype+notebook"
settings = load_settings(params_file)
bars = market_data(symbols, timeframe, data_dir=data_dir, start=start, end=end)

# %% [markdown]
# ## Data quality
# Gaps are exchange outages: reported, never filled. Zero-volume bars are maintenance windows.

# %%
research.quality_table(bars)

# %% [markdown]
# ## Indicators and regimes

# %%
features = research.features_for(bars, settings)
for symbol in bars:
    research.chart(symbol, bars, features, last=chart_bars).show()

# %% [markdown]
# ## Regime statistics
# Share of time, episodes, mean duration, and forward returns by regime (descriptive: they look ahead).

# %%
research.regime_table(bars, features)

# %% [markdown]
# ## Explore interactively
# Pick a symbol and a window (in JupyterLab).

# %%
explorer = research.market_explorer(bars, features)
