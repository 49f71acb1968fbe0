"""Downloads with the real ccxt client against the local venue: pages, resume, limits, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import pandas as pd
import pytest

from autobot_lib.data import DataDownloadError, RetryPolicy, cache_path, fetch_funding, fetch_ohlcv, load_ohlcv
from autobot_lib.exchange.venue import Fault
from conftest import REPO, free_port, real, real_funding

FAST = RetryPolicy(attempts=3, first_delay_s=0.02)


def _klines(venue) -> list[dict]:
    return [r for r in venue.requests if r["path"].endswith("/klines")]


def test_paginated_download_equals_the_source(venue, tmp_path):
    got = fetch_ohlcv("BTCUSDT", "1h", since="2025-09-01", until="2026-01-01", cache_dir=tmp_path,
                      base_url=venue.url, progress=False)
    expected = real("binance_usdm_BTCUSDT_1h.csv.gz").loc["2025-09-01":"2025-12-31 23:00"]
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
    starts = [int(r["query"]["startTime"]) for r in _klines(venue)]
    assert len(starts) == 3 and all(int(r["query"]["limit"]) == 1000 for r in _klines(venue))
    assert starts == sorted(starts) and starts[1] - starts[0] == 1000 * 3_600_000
    assert cache_path(tmp_path, "usdm", "BTCUSDT", "1h").exists()


def test_a_second_call_reads_the_cache_and_asks_only_for_new_bars(venue, tmp_path):
    fetch_ohlcv("BTCUSDT", "1h", since="2026-03-01", until="2026-04-01", cache_dir=tmp_path, base_url=venue.url,
                progress=False)
    before = len(_klines(venue))
    got = fetch_ohlcv("BTCUSDT", "1h", since="2026-03-01", until="2026-04-15", cache_dir=tmp_path,
                      base_url=venue.url, progress=False)
    new = _klines(venue)[before:]
    assert [int(r["query"]["startTime"]) for r in new] == [int(pd.Timestamp("2026-04-01", tz="UTC").value // 10**6)]
    assert got.index[0] == pd.Timestamp("2026-03-01", tz="UTC") and got.index[-1] == pd.Timestamp("2026-04-14 23:00", tz="UTC")


def test_the_bar_still_forming_is_never_kept(venue, tmp_path):
    venue.books["usdm"].now_ms = int(pd.Timestamp("2026-05-17 07:30", tz="UTC").value // 10**6)
    got = fetch_ohlcv("BTCUSDT", "1h", last_bars=100, cache_dir=tmp_path, base_url=venue.url, progress=False)
    assert got.index[-1] == pd.Timestamp("2026-05-17 06:00", tz="UTC")  # 07:00 closes at 08:00, after "now"
    assert load_ohlcv(cache_path(tmp_path, "usdm", "BTCUSDT", "1h"), gaps="ignore").index[-1] == got.index[-1]


def test_spot_download_keeps_real_outages_as_gaps(venue, tmp_path):
    got = fetch_ohlcv("BTCUSDT", "1h", since="2018-02-01", until="2018-03-01", market="spot", cache_dir=tmp_path,
                      base_url=venue.url, progress=False)
    expected = real("binance_spot_BTCUSDT_1h.csv.gz").loc["2018-02-01":"2018-02-28 23:00"]
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
    assert got.index.to_series().diff().max() == pd.Timedelta(hours=34)  # the 33-bar outage
    assert all(int(r["query"]["limit"]) == 1000 for r in _klines(venue))


def test_rate_limit_answer_is_respected_then_retried(venue, tmp_path):
    venue.inject(Fault("429", path="/fapi/v1/klines", after=1, retry_after_s=1))
    got = fetch_ohlcv("BTCUSDT", "1h", since="2025-09-01", until="2025-12-01", cache_dir=tmp_path,
                      base_url=venue.url, progress=False)
    assert len(got) == 91 * 24
    calls = _klines(venue)
    assert len(calls) == 4  # page 1, the refused page 2, page 2 again, page 3
    assert calls[1]["query"]["startTime"] == calls[2]["query"]["startTime"]
    assert calls[2]["time"] - calls[1]["time"] >= 0.95  # waited for Retry-After before asking again


@pytest.mark.parametrize("kind", ["500", "503", "418", "drop"])
def test_passing_faults_are_retried(venue, tmp_path, kind):
    venue.inject(Fault(kind, path="/fapi/v1/klines", count=2, retry_after_s=0))
    got = fetch_ohlcv("BTCUSDT", "1h", since="2026-01-01", until="2026-02-01", cache_dir=tmp_path,
                      base_url=venue.url, progress=False, retry=RetryPolicy(attempts=4, first_delay_s=0.02))
    assert len(got) == 31 * 24


def test_giving_up_keeps_what_was_fetched_and_the_next_run_resumes(venue, tmp_path):
    venue.inject(Fault("503", path="/fapi/v1/klines", after=2, count=10))
    with pytest.raises(DataDownloadError, match="gave up after 3 attempts.*next run resumes"):
        fetch_ohlcv("BTCUSDT", "1h", since="2025-06-01", until="2026-01-01", cache_dir=tmp_path,
                    base_url=venue.url, progress=False, retry=FAST)
    cached = load_ohlcv(cache_path(tmp_path, "usdm", "BTCUSDT", "1h"), gaps="ignore")
    assert len(cached) == 2000  # two whole pages, valid
    venue.clear_faults()
    before = len(_klines(venue))
    got = fetch_ohlcv("BTCUSDT", "1h", since="2025-06-01", until="2026-01-01", cache_dir=tmp_path,
                      base_url=venue.url, progress=False)
    resumed_from = int(_klines(venue)[before]["query"]["startTime"])
    assert resumed_from == int(cached.index[-1].value // 10**6) + 3_600_000
    expected = real("binance_usdm_BTCUSDT_1h.csv.gz").loc["2025-06-01":"2025-12-31 23:00"]
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_killed_download_leaves_a_valid_cache_and_resumes(venue, tmp_path):
    """A real interruption: the CLI process is SIGKILLed while waiting for its third page."""
    venue.inject(Fault("timeout", path="/fapi/v1/klines", after=2, delay_s=60))
    proc = subprocess.Popen([sys.executable, "-m", "autobot_lib.cli", "-q", "data", "fetch", "BTCUSDT",
                             "--since", "2025-06-01", "--until", "2026-01-01", "--cache-dir", str(tmp_path),
                             "--base-url", venue.url, "--no-progress"], cwd=REPO)
    deadline = time.time() + 60
    while len(_klines(venue)) < 3 and time.time() < deadline:
        time.sleep(0.05)
    assert len(_klines(venue)) == 3, "the download never reached its third page"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    path = cache_path(tmp_path, "usdm", "BTCUSDT", "1h")
    assert len(load_ohlcv(path, gaps="ignore")) == 2000
    venue.clear_faults()
    got = fetch_ohlcv("BTCUSDT", "1h", since="2025-06-01", until="2026-01-01", cache_dir=tmp_path,
                      base_url=venue.url, progress=False)
    assert len(_klines(venue)) == 3 + 4  # only the 3136 missing bars were asked for: 4 pages
    pd.testing.assert_frame_equal(got, real("binance_usdm_BTCUSDT_1h.csv.gz").loc["2025-06-01":"2025-12-31 23:00"],
                                  check_freq=False)


def test_unreachable_exchange_fails_fast_with_advice(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(DataDownloadError, match="cannot reach the exchange.*No network.*--base-url"):
        fetch_ohlcv("BTCUSDT", "1h", since="2025-01-01", cache_dir=tmp_path, base_url=closed, progress=False)
    assert time.monotonic() - started < 5  # no retry loop on a refused connection
    assert not any(tmp_path.iterdir())


def test_unknown_symbol_is_named(venue, tmp_path):
    with pytest.raises(DataDownloadError, match="does not list this symbol"):
        fetch_ohlcv("DOGEUSDT", "1h", since="2025-01-01", cache_dir=tmp_path, base_url=venue.url, progress=False)


def test_funding_history_download_and_resume(venue, tmp_path):
    first = fetch_funding("BTCUSDT", since="2024-01-01", until="2025-01-01", cache_dir=tmp_path, base_url=venue.url,
                          progress=False)
    source = real_funding("binance_usdm_BTCUSDT_funding.csv.gz")
    pd.testing.assert_frame_equal(first, source.loc["2024-01-01":"2024-12-31 23:59"], check_freq=False)
    before = len(venue.requests)
    got = fetch_funding("BTCUSDT", since="2024-01-01", until="2026-01-01", cache_dir=tmp_path, base_url=venue.url,
                        progress=False)
    asked = [r for r in venue.requests[before:] if r["path"].endswith("fundingRate")]
    assert int(asked[0]["query"]["startTime"]) > int(first.index[-1].value // 10**6)
    pd.testing.assert_frame_equal(got, source.loc["2024-01-01":"2025-12-31 23:59"], check_freq=False)


def test_demo_default_uses_cache_then_download_then_synthetic(venue, tmp_path):
    from autobot_lib.data import default_market

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        downloaded = default_market(bars=500, cache_dir=tmp_path, base_url=venue.url, progress=False)
        assert not downloaded.attrs["synthetic"] and len(downloaded) == 500
        venue.stop()  # the exchange is gone: the cache still serves
        cached = default_market(bars=500, cache_dir=tmp_path, base_url=venue.url, progress=False)
        pd.testing.assert_frame_equal(cached, downloaded, check_freq=False)
        shorter = default_market(bars=800, cache_dir=tmp_path, base_url=venue.url, progress=False)
        synthetic = default_market(bars=500, cache_dir=tmp_path / "empty", base_url=venue.url, progress=False)
    assert not shorter.attrs["synthetic"] and len(shorter) == 500  # real cached bars beat synthetic ones
    assert synthetic.attrs["synthetic"] is True and len(synthetic) == 500
