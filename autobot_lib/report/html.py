"""Standalone HTML report pages: plotly.js embedded once, so a page opens offline in any browser."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from autobot_lib._fs import write_text_atomic

Section = tuple[str, "go.Figure | pd.DataFrame | str"]

_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1280px;
       color: #2d3436; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #dfe6e9; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { padding: 3px 10px; text-align: right; }
th { background: #f5f6fa; } tr:nth-child(even) td { background: #fafbfc; }
.banner { background: #fdcb6e; padding: 10px 14px; font-weight: 600; border-radius: 4px; }
.meta { color: #636e72; font-size: 0.9em; } pre { background: #f5f6fa; padding: 10px; overflow-x: auto; }
"""


def write_html_page(path: str | Path, title: str, sections: Sequence[Section], *, subtitle: str = "",
                    banner: str = "") -> Path:
    """Write a page of (heading, figure | table | text) sections atomically; returns the path."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if banner:
        parts.append(f'<p class="banner">{html.escape(banner)}</p>')
    if subtitle:
        parts.append(f'<p class="meta">{html.escape(subtitle)}</p>')
    plotly_included = False
    for heading, body in sections:
        if heading:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(body, go.Figure):
            parts.append(body.to_html(full_html=False, include_plotlyjs=not plotly_included,
                                      config={"displaylogo": False, "responsive": True}))
            plotly_included = True
        elif isinstance(body, pd.DataFrame):
            parts.append(body.to_html(float_format=lambda v: f"{v:,.6g}", na_rep="", border=0))
        else:
            parts.append(f"<pre>{html.escape(str(body))}</pre>")
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    return write_text_atomic(path, page)
