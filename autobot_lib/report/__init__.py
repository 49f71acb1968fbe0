"""Figures and report pages (plotly, standalone HTML). Thin: they draw what the core computed."""

from autobot_lib.report.charts import market_figure
from autobot_lib.report.html import write_html_page

__all__ = ["market_figure", "write_html_page"]
