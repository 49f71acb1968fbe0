"""The `autobot` command as a user runs it: a real process, real files, the local venue."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from conftest import AUTOBOT, REPO, data_dir, free_port, real


def run(*args: str, cwd: Path = REPO, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([AUTOBOT, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("args", [[], ["data"], ["data", "fetch"], ["data", "validate"], ["data", "show"],
                                  ["demo"], ["venue"]])
def test_every_command_has_help(args):
    out = run(*args, "--help").stdout
    assert out.startswith("usage: autobot") and "--help" in out
    if args[-1:] == ["fetch"]:
        assert "--since" in out and "--market" in out and "No API key" in out


def test_validate_reports_real_outages_and_passes(tmp_path):
    out = run("data", "validate", str(data_dir() / "binance_spot_BTCUSDT_1h.csv.gz")).stdout
    assert "gaps: 27 (122 missing bars)" in out and "2018-02-08T01:00Z .. 2018-02-09T09:00Z: 33 missing bars" in out
    assert "verdict: OK" in out
    strict = run("data", "validate", "--strict-gaps", str(data_dir() / "binance_spot_BTCUSDT_1h.csv.gz"), ok=False)
    assert strict.returncode == 1 and "verdict: FAIL" in strict.stdout


def test_validate_names_the_bad_row_and_repairs(tmp_path):
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:50]
    bad = pd.concat([frame.iloc[:10], frame.iloc[9:10], frame.iloc[10:]])
    bad.index = bad.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "bars.csv"
    bad.to_csv(path, index_label="timestamp")
    done = run("data", "validate", str(path), "--repair-to", str(tmp_path / "fixed.parquet"), ok=False)
    assert done.returncode == 1
    assert "ERROR row 11 (2019-09-09T02:00Z): duplicate timestamp" in done.stdout
    assert "repaired copy (50 bars)" in done.stdout
    assert run("data", "validate", str(tmp_path / "fixed.parquet")).stdout.count("verdict: OK") == 1


def test_show_prints_bars_and_writes_a_chart(tmp_path):
    out = run("data", "show", str(data_dir() / "binance_usdm_ETHUSDT_1h.csv.gz"), "--resample", "4h",
              "--plot", str(tmp_path / "eth.html")).stdout
    assert "timeframe 4h" in out and "2026-05-17 04:00:00+00:00" in out
    assert (tmp_path / "eth.html").stat().st_size > 100_000


def test_fetch_then_show_from_the_cache(venue, tmp_path):
    out = run("data", "fetch", "BTCUSDT", "--since", "2026-04-01", "--until", "2026-05-01", "--funding",
              "--cache-dir", str(tmp_path), "--base-url", venue.url, "--no-progress").stdout
    assert "BTCUSDT 1h: 720 bars 2026-04-01 00:00 .. 2026-04-30 23:00 UTC" in out and "funding: 90 events" in out
    shown = run("data", "show", "BTCUSDT", "--cache-dir", str(tmp_path)).stdout
    assert "720 rows" in shown


def test_unreachable_exchange_is_one_clear_line(tmp_path):
    done = run("data", "fetch", "BTCUSDT", "--cache-dir", str(tmp_path), "--base-url",
               f"http://127.0.0.1:{free_port()}", "--no-progress", ok=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("autobot: error: cannot reach the exchange")


def test_bad_input_is_one_clear_line(tmp_path):
    done = run("data", "show", "NOPEUSDT", "--cache-dir", str(tmp_path), ok=False)
    assert done.returncode == 1 and "autobot data fetch NOPEUSDT" in done.stderr and "Traceback" not in done.stderr
    done = run("data", "fetch", "BTCUSDT", "--timeframe", "7x", "--cache-dir", str(tmp_path), ok=False)
    assert "timeframe '7x' is not valid" in done.stderr


def test_venue_command_serves_files():
    port = free_port()
    proc = subprocess.Popen([AUTOBOT, "venue", "--port", str(port), "--data",
                             str(data_dir() / "binance_usdm_SOLUSDT_1h.csv.gz")], stdout=subprocess.PIPE, text=True)
    try:
        assert "venue on http://127.0.0.1:" in proc.stdout.readline()
        deadline = time.time() + 20
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/fapi/v1/klines?symbol=SOLUSDT&interval=4h"
                                              "&limit=2", timeout=2).read().decode()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.2)
        assert body.startswith("[[") and body.count("[") == 3
    finally:
        proc.terminate()
        proc.wait(10)
