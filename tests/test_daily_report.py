"""The daily report by hand, its delivery to local Slack and Telegram stand-ins, and the schedule."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest
from pydantic import SecretStr

from autobot_lib.notebooks import NotebookError, next_run
from autobot_lib.notify import send_slack, send_summary, send_telegram
from autobot_lib.report.daily import daily_report, summary_text
from conftest import AUTOBOT, data_dir, free_port

T = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
TRADES = pd.DataFrame({
    "symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT", "BTCUSDT"],
    "side": ["LONG", "SHORT", "LONG", "LONG", "SHORT"],
    "entry_time": [T("2025-03-01 02:00"), T("2025-03-02 01:00"), T("2025-03-03 05:00"), T("2025-03-03 09:00"),
                   T("2025-03-03 20:00")],
    "exit_time": [T("2025-03-01 09:00"), T("2025-03-03 04:00"), T("2025-03-03 11:00"), T("2025-03-03 16:00"),
                  T("2025-03-05 10:00")],
    "entry_price": [1.0] * 5, "qty": [1.0] * 5, "pnl": [100.0, -40.0, 60.0, -20.0, 5.0], "fees": [1.0] * 5,
    "funding": [0.0] * 5,
})


def test_daily_report_by_hand():
    journal = pd.DataFrame({"timestamp": [T("2025-03-03 05:00"), T("2025-03-03 06:00"), T("2025-03-04 01:00")],
                            "outcome": ["veto:max_positions", "gate:adx_too_low", "veto:max_positions"]})
    report = daily_report(TRADES, "2025-03-03", journal=journal, initial_equity=10_000)
    s = report.summary
    # closed on the 3rd: -40 (ETH short), +60 (BTC long), -20 (ETH long); equity at the start of the day 10,100
    assert (s["trades"], s["wins"], s["losses"]) == (3, 1, 2)
    assert s["pnl"] == 0.0 and s["profit_factor"] == pytest.approx(60 / 60)
    assert s["gross_change"] == pytest.approx(0.0) and s["win_rate"] == pytest.approx(1 / 3)
    assert report.by_symbol.loc["ETHUSDT", "pnl"] == -60 and report.by_symbol.loc["BTCUSDT", "trades"] == 1
    # the week (Mon 3 Mar) and the month (from 1 Mar) include the 1st and 2nd
    assert report.changes.loc["ALL", "day"] == 0 and report.changes.loc["ALL", "week"] == 0
    assert report.changes.loc["ALL", "month"] == 100 and report.changes.loc["BTCUSDT", "month"] == 160
    assert list(report.open_positions["symbol"]) == ["BTCUSDT"]          # the short opened 20:00, closes on the 5th
    assert report.blocks.to_dict() == {"veto:max_positions": 1, "gate:adx_too_low": 1}
    text = summary_text(report)
    assert "2025-03-03: 3 trades (1 won, 2 lost), win rate 33%, PF 1.00, PnL +0.00" in text and "1 open" in text


class _StandIn(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _StandIn.received.append((self.path, body))
        self.send_response(500 if "fail" in self.path else 200)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in():
    server = HTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _StandIn.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_slack_and_telegram_stand_ins(stand_in, caplog):
    assert send_slack(SecretStr(f"{stand_in}/services/T0/B0/XYZ"), "hello") is True
    assert send_telegram(SecretStr("123:secret-token"), "42", "hi", base_url=stand_in) is True
    assert _StandIn.received == [("/services/T0/B0/XYZ", {"text": "hello"}),
                                 ("/bot123:secret-token/sendMessage", {"chat_id": "42", "text": "hi"})]
    assert send_slack(f"{stand_in}/fail", "x") is False                  # a failing channel: False, not raised
    assert send_telegram("123:secret-token", "42", "x", base_url=f"http://127.0.0.1:{free_port()}") is False
    assert "secret-token" not in caplog.text and "XYZ" not in caplog.text


def test_send_summary_uses_the_configured_channels(stand_in):
    from autobot_lib.config import load_settings

    settings = load_settings(env_file=None, SLACK_WEBHOOK_URL=f"{stand_in}/hook", TELEGRAM_BOT_TOKEN="1:t",
                             TELEGRAM_CHAT_ID="7")
    assert send_summary("daily", settings, telegram_base_url=stand_in) == {"slack": True, "telegram": True}
    assert send_summary("daily", load_settings(env_file=None)) == {}


@pytest.mark.parametrize("now, at, expected", [
    ("2025-03-03 00:04", "00:05", "2025-03-03 00:05"), ("2025-03-03 00:05", "00:05", "2025-03-04 00:05"),
    ("2025-03-03 23:59", "00:05", "2025-03-04 00:05"), ("2025-12-31 12:00", "06:30", "2026-01-01 06:30"),
])
def test_next_run(now, at, expected):
    utc = dt.timezone.utc
    assert next_run(dt.datetime.fromisoformat(now).replace(tzinfo=utc), at) == \
        dt.datetime.fromisoformat(expected).replace(tzinfo=utc)
    with pytest.raises(NotebookError, match="HH:MM"):
        next_run(dt.datetime.now(utc), "25h")


def test_schedule_once_writes_one_dated_report_and_replaces_it(tmp_path):
    cmd = [AUTOBOT, "-q", "schedule", "daily-report", "--once", "--date", "2026-05-16", "-p", "data_dir",
           str(data_dir()), "--out", str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    page = tmp_path / "2026-05-16" / "04_daily_report.html"
    assert "2026-05-16:" in first.stdout and page.exists()
    executed = json.loads((tmp_path / "2026-05-16" / "04_daily_report.ipynb").read_text())
    assert any("AUTOBOT daily report 2026-05-16" in "".join(o.get("text", ""))
               for c in executed["cells"] for o in c.get("outputs", []))
    before = page.stat().st_mtime_ns
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=300).returncode == 0
    assert page.stat().st_mtime_ns > before and sorted(p.name for p in page.parent.iterdir()) == [
        "04_daily_report.html", "04_daily_report.ipynb"]   # replaced whole, nothing half-written left
