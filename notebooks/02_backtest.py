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
# # 02 · Backtest
# One strategy (AUTOBOT rules or Donchian/ATR) on the chosen symbols and period, through the same decision
# path the live bot runs: metrics, equity and drawdown, trades on candles, the signal funnel, per-regime
# and per-rule tables, a journal excerpt, and the report files.

# %% tags=["parameters"]
symbols = ["BTCUSDT", "ETHUSDT"]
timeframe = "1h"
start = None        # first bar, a UTC date; None: the start of the data
end = None
strategy = "autobot"  # autobot | donchian
params_file = None  # a params YAML (every setting: thresholds, risk, exits)
data_dir = None     # a folder of binance_usdm_<SYMBOL>_<timeframe>.csv.gz; None: $AUTOBOT_DATA_DIR or the default market
funding_dir = None  # a folder of binance_usdm_<SYMBOL>_funding.csv.gz; None: no funding charged
equity = 10000.0
output_dir = "reports"

# %%
import plotly.io as pio

from autobot_lib import research
from autobot_lib.backtest import run_backtest
from autobot_lib.backtest.metrics import breakdown
from autobot_lib.backtest.report import equity_figure, funnel_figure, generate_report, monthly_heatmap, trades_figure
from autobot_lib.backtest.report import write_backtest_report
from autobot_lib.config import load_settings
from autobot_lib.data import funding_data, market_data
from autobot_lib.journal import funnel

pio.renderers.default = "plotly_mimetype+notebook"
settings = load_settings(params_file, STRATEGY=strategy)
bars = market_data(symbols, timeframe, data_dir=data_dir, start=start, end=end)
result = run_backtest(bars, settings, equity=equity, funding=funding_data(symbols, funding_dir))

# %% [markdown]
# ## Metrics

# %%
generate_report(result.trades, result.equity["equity"], result.initial_equity).T

# %%
equity_figure(result).show()
monthly_heatmap(result).show()

# %% [markdown]
# ## Trades on the chart

# %%
for symbol in bars:
    trades_figure(result, symbol, bars[symbol]).show()

# %% [markdown]
# ## Why these trades, and why not more: the signal funnel

# %%
print(funnel(result.journal, threshold=settings.ACTIVATION_THRESHOLD).text())
funnel_figure(result.journal).show()

# %%
breakdown(result.trades, "entry_regime")

# %%
breakdown(result.trades, "rule")

# %%
research.journal_excerpt(result.journal)

# %% [markdown]
# ## Report files

# %%
write_backtest_report(result, bars, f"{output_dir}/backtest")

# %% [markdown]
# ## Try other settings
# Move the sliders (in JupyterLab) to rerun the backtest with another threshold or stop.

# %%
explorer = research.backtest_explorer(bars, settings)
