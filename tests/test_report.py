"""The demo report as a person sees it: rendered by headless Chromium, offline, labelled honestly."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autobot_lib.demo import market_overview, run_demo
from conftest import real

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=20000", "--hide-scrollbars"]


def chromium(page: Path, tmp_path: Path, *args: str) -> str:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run 'make test' (it installs it) or apt-get install chromium",
                    pytrace=False)
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_offline_demo_is_labelled_synthetic_and_self_contained(tmp_path):
    page = run_demo(out_dir=tmp_path, offline=True, progress=False)
    assert page.name == "market_BTCUSDT_1h_SYNTHETIC.html"
    html = page.read_text()
    assert html.count("SYNTHETIC DATA") >= 3  # page title, banner, chart title
    assert '<script src="http' not in html and "plotly" in html  # plotly.js embedded: works with no network


def test_real_data_page_renders_in_a_browser(tmp_path):
    frame = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-3000:]
    frame.attrs.update(real("binance_usdm_ETHUSDT_1h.csv.gz").attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = market_overview(frame, tmp_path / "eth.html")
    html = page.read_text()
    assert "SYNTHETIC" not in html and "ETHUSDT 1h: indicators and regimes" in html
    dom = chromium(page, tmp_path, "--dump-dom")
    assert dom.count('class="main-svg"') >= 2          # plotly drew the figure
    assert 'class="trace boxes"' in dom                # the candlesticks
    assert dom.count('class="js-line"') >= 10          # EMAs, bands, RSI, MACD, ADX lines
    assert "BULL_TREND" in dom and "Regime statistics" in dom
    shot = tmp_path / "page.png"
    chromium(page, tmp_path, "--window-size=1400,1400", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    green = ((pixels[..., 1] > pixels[..., 0] + 60) & (pixels[..., 1] > pixels[..., 2] + 30)).sum()
    red = ((pixels[..., 0] > pixels[..., 1] + 80) & (pixels[..., 0] > pixels[..., 2] + 60)).sum()
    assert green > 2000 and red > 2000  # rising and falling candles were painted, not a blank page
