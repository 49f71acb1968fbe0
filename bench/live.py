"""The live engine under a burst: 100 symbols closing on the same bar, against the local venue, with the
real ccxt client (REST orders, ccxt.pro kline streams) on loopback.

    python bench/live.py [--symbols 100] [--bars 60]

The venue runs in its own process, replaying real BTCUSDT 1h bars under 100 names, so a Donchian
breakout fires on every symbol at once: the worst case. For each bar it prints nothing; at the end:
- decision time per symbol (features, signal, decide): p50 / p99 (target p99 < 1 ms);
- on the busiest bar, from the moment the venue is told to close it: the last entry order acknowledged
  (target < 250 ms) and the last protective stop acknowledged (target < 500 ms);
- resident memory of the engine's process (target < 300 MB) and its log volume per day at INFO; the
  kernels run interpreted, as ``autobot live`` runs them (``AUTOBOT_JIT=1 python bench/live.py`` compiles
  them, for comparison);
- ccxt's own throttle, for comparison: what 10 orders take with enableRateLimit (binanceusdm spaces order
  calls 200 ms apart), against the engine's limiter that follows Binance's windows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("AUTOBOT_JIT", "0")      # what `autobot live` sets; read by the first autobot_lib import

import numpy as np

from autobot_lib.config import load_settings
from autobot_lib.data import load_ohlcv
from autobot_lib.exchange.ccxt_broker import CcxtBroker
from autobot_lib.exchange.venue import DEMO_API_KEY, DEMO_API_SECRET, MarketBook, VenueServer, venue_client
from autobot_lib.live.engine import LiveEngine
from autobot_lib.live.feed import BarFeed
from autobot_lib.live.logs import log_volume_per_day, setup_logging
from autobot_lib.live.session import LiveSession

DATA = Path(os.environ.get("AUTOBOT_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"))
START = "2025-06-01"


def serve(port: int, names: list[str]) -> None:
    bars = load_ohlcv(DATA / "binance_usdm_BTCUSDT_1h.csv.gz", gaps="ignore").loc["2025-03-01":"2025-09-01"]
    book = MarketBook("usdm")
    for name in names:
        book.add_bars(name, bars)
    book.rate_limit_scale = 1000          # hours pass in milliseconds here
    VenueServer(usdm=book, port=port, api_keys={DEMO_API_KEY: DEMO_API_SECRET}, start=START, speed="manual",
                balance=100_000_000).serve_forever()


def advance(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_venue/advance?bars=1", method="POST"), timeout=30).read()


async def run(url: str, names: list[str], bars: int, log_path: Path):
    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             MAX_POSITIONS=len(names), donchian={"leverage": 5, "funding_avoid_min": 0,
                                                                  "risk_pct": 0.001})
    broker = CcxtBroker(DEMO_API_KEY, DEMO_API_SECRET, mode="venue", base_url=url)
    rest = venue_client(url, DEMO_API_KEY, DEMO_API_SECRET, flavour="async", enableRateLimit=False)
    await rest.load_markets()
    ids = {n: rest.markets_by_id[n][0]["symbol"] for n in names}
    feed = BarFeed(lambda: venue_client(url, DEMO_API_KEY, DEMO_API_SECRET, flavour="pro", enableRateLimit=False),
                   ids, per_connection=50)
    engine = LiveEngine(settings, broker, names)
    session = LiveSession(engine, feed, rest, reconcile_every_s=3600)
    task = asyncio.create_task(session.run(max_bars=bars * len(names)))
    loop = asyncio.get_running_loop()
    while engine.orders is None or sum(len(s) for s in feed_subscriptions(url)) < len(names):
        await asyncio.sleep(0.05)
    busiest = (0, 0.0, 0.0)
    for k in range(bars):
        acked_before = len(engine.orders.acked)
        t0 = loop.time()
        await asyncio.to_thread(advance, url)
        while session.decided < (k + 1) * len(names):
            await asyncio.sleep(0.001)
            if task.done():
                task.result()
        new = list(engine.orders.acked)[acked_before:]
        entries = [t - t0 for cid, t in new if cid.endswith("-E")]
        stops = [t - t0 for cid, t in new if "-S" in cid]
        if len(entries) > busiest[0]:
            busiest = (len(entries), max(entries), max(stops) if stops else float("nan"))
    await task
    await broker.close()
    await rest.close()
    return engine, busiest


def feed_subscriptions(url: str) -> list[list[str]]:
    state = json.loads(urllib.request.urlopen(f"{url}/_venue/state", timeout=5).read())
    return state.get("subscriptions", [])


async def ccxt_throttle(url: str, orders: int = 10) -> float:
    """What ccxt's own throttle costs: ``orders`` market orders in a row with enableRateLimit."""
    client = venue_client(url, DEMO_API_KEY, DEMO_API_SECRET, flavour="async", enableRateLimit=True)
    await client.load_markets()
    started = time.perf_counter()
    for i in range(orders):
        await client.create_order("S000USDT", "market", "buy" if i % 2 == 0 else "sell", 0.001)
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--bars", type=int, default=60)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    names = [f"S{i:03d}USDT" for i in range(args.symbols)]
    venue = multiprocessing.get_context("fork").Process(target=serve, args=(args.port, names), daemon=True)
    venue.start()
    url = f"http://127.0.0.1:{args.port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/fapi/v1/ping", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "bot.log"
        setup_logging("INFO", path=log_path)
        logging.getLogger("autobot").setLevel(logging.INFO)
        started = time.perf_counter()
        engine, (entries, last_entry, last_stop) = asyncio.run(run(url, names, args.bars, log_path))
        wall = time.perf_counter() - started
        volume = log_volume_per_day(log_path)
        logged = int(volume["bytes"].sum()) if len(volume) else 0
    decisions = np.array(engine.decision_seconds) * 1e6
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_day = logged / args.bars * 24          # 1h bars: 24 a day
    throttle = asyncio.run(ccxt_throttle(url))
    venue.terminate()
    print(f"{args.symbols} symbols x {args.bars} bars against the venue in {wall:.1f} s; "
          f"{len(engine.trades)} trades closed, {len(engine.held)} open")
    print(f"decision per symbol         p50 {np.percentile(decisions, 50):6.0f} us   p99 "
          f"{np.percentile(decisions, 99):6.0f} us   (target p99 < 1000 us)")
    print(f"busiest bar: {entries} entries; last entry acknowledged {last_entry * 1000:6.1f} ms after the close "
          f"(target < 250 ms); last stop {last_stop * 1000:6.1f} ms (target < 500 ms)")
    kernels = "compiled (AUTOBOT_JIT=1)" if os.environ["AUTOBOT_JIT"] != "0" else "interpreted, as autobot live runs them"
    print(f"engine process RSS           {rss_mb:6.0f} MB (target < 300 MB); kernels {kernels}")
    print(f"log volume at INFO           {logged / 1024:6.1f} KiB over {args.bars} bars -> "
          f"{per_day / 1024 / 1024:.2f} MiB per day at 1h bars")
    print(f"ccxt's own throttle: 10 orders in a row {throttle:.2f} s ({throttle / 10 * 1000:.0f} ms each; 100 would "
          f"take {throttle * 10:.0f} s); the engine's limiter sent {entries} at once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
