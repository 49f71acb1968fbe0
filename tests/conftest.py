"""Shared fixtures: the real Binance data in ../shared/data/ohlcv, and a local venue serving it."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from autobot_lib.data import load_funding, load_ohlcv
from autobot_lib.exchange.venue import MarketBook, VenueServer

REPO = Path(__file__).resolve().parents[1]
# notebooks run by nbval (and any kernel the tests start) read the real data through this
os.environ.setdefault("AUTOBOT_DATA_DIR", str(Path(os.environ.get("AUTOBOT_TEST_DATA",
                                                                   REPO.parent / "shared" / "data" / "ohlcv"))))
AUTOBOT = shutil.which("autobot", path=str(Path(sys.executable).parent)) or "autobot"  # this environment's command


def data_dir() -> Path:
    """Real data: $AUTOBOT_TEST_DATA, else ../shared/data/ohlcv beside the repository. Never skipped."""
    path = Path(os.environ.get("AUTOBOT_TEST_DATA", REPO.parent / "shared" / "data" / "ohlcv"))
    if not path.is_dir():
        pytest.fail(f"real test data not found at {path}: set AUTOBOT_TEST_DATA to the folder of "
                    "binance_*_*.csv.gz files (shared/data/ohlcv)", pytrace=False)
    return path


@lru_cache(maxsize=None)
def _real(name: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_ohlcv(data_dir() / name)


def real(name: str) -> pd.DataFrame:
    """A real OHLCV file, loaded once per test session (a copy, so tests cannot disturb each other)."""
    frame = _real(name)
    copy = frame.copy()
    copy.attrs.update(frame.attrs)
    return copy


def real_funding(name: str) -> pd.DataFrame:
    return load_funding(data_dir() / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def venue():
    """A local venue serving real USD-M BTCUSDT 1h bars and funding, and spot BTCUSDT 1h bars."""
    usdm = MarketBook("usdm")
    usdm.add_bars("BTCUSDT", real("binance_usdm_BTCUSDT_1h.csv.gz"))
    usdm.add_funding("BTCUSDT", real_funding("binance_usdm_BTCUSDT_funding.csv.gz"))
    spot = MarketBook("spot")
    spot.add_bars("BTCUSDT", real("binance_spot_BTCUSDT_1h.csv.gz"))
    server = VenueServer(usdm=usdm, spot=spot)
    server.start()
    yield server
    server.stop()


VENUE_KEY, VENUE_SECRET = "test-venue-key", "test-venue-secret"  # local test credentials, not Binance's
REPLAY_START = "2025-06-01"


def make_trading_venue() -> VenueServer:
    """A trading venue replaying real USD-M BTCUSDT 1h bars (with funding) from REPLAY_START, stepped by
    hand (``advance``), with one account of 10 000 USDT reached with VENUE_KEY / VENUE_SECRET; started."""
    usdm = MarketBook("usdm")
    usdm.add_bars("BTCUSDT", real("binance_usdm_BTCUSDT_1h.csv.gz"))
    usdm.add_funding("BTCUSDT", real_funding("binance_usdm_BTCUSDT_funding.csv.gz"))
    server = VenueServer(usdm=usdm, api_keys={VENUE_KEY: VENUE_SECRET}, start=REPLAY_START, speed="manual")
    server.start()
    return server


@pytest.fixture
def trading_venue():
    """:func:`make_trading_venue`, stopped after the test."""
    server = make_trading_venue()
    yield server
    server.stop()
