"""``autobot venue``: a local Binance-compatible venue served from data files."""

from __future__ import annotations

import argparse
import os

from autobot_lib.cli._common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    venue = add_command(
        sub, "venue", "serve a local Binance-compatible venue from data files (market data and trading)", """
        Serve Binance USD-M (and spot market-data) endpoints on 127.0.0.1 from files named like
        binance_usdm_BTCUSDT_1h.csv.gz (funding files too), for the real ccxt client: klines, tickers, signed
        trading (orders, algo stops, positions, leverage), kline and user-data WebSockets. With --start or --speed
        it replays the USD-M candles and matches orders on them. Signed requests use AUTOBOT_VENUE_API_KEY /
        AUTOBOT_VENUE_API_SECRET from the environment, else the local demo pair venue-demo-key /
        venue-demo-secret.""",
        epilog="""
        Control a running venue: POST /_venue/advance?bars=N, POST /_venue/fault with JSON {"kind": "429", "path":
        "/fapi/v1/order"}, GET /_venue/state. Example: autobot venue --data binance_usdm_BTCUSDT_1h.csv.gz --start
        2025-06-01 --speed 10""")
    venue.add_argument("--data", nargs="+", required=True, metavar="FILE", help="OHLCV and funding files")
    venue.add_argument("--start", help="replay from this UTC time (default with --speed: 1000 bars into the "
                                       "data, so clients can fetch history first)")
    venue.add_argument("--speed", help="replay speed: bars per second (e.g. 10), realtime, max (as fast as "
                                       "stream clients keep up) or manual (only on POST /_venue/advance; "
                                       "default with --start)")
    venue.add_argument("--balance", type=float, default=10_000, help="USDT in the account (default: %(default)s)")
    venue.add_argument("--rate-limit-scale", type=float, default=1.0, metavar="X",
                       help="announce Binance's request limits times X in exchangeInfo, so a bot that follows "
                            "them keeps up with a fast replay (default: %(default)s)")
    venue.add_argument("-f", "--params", help="a params YAML: the account's fees are its TAKER_FEE and MAKER_FEE "
                                              "(default: the settings' defaults, Binance's regular tier)")
    venue.add_argument("--host", default="127.0.0.1", help="(default: %(default)s)")
    venue.add_argument("--port", type=int, default=8765, help="(default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from autobot_lib.config import load_settings
    from autobot_lib.data import describe_path, load_funding, load_ohlcv
    from autobot_lib.exchange.venue import DEMO_API_KEY, DEMO_API_SECRET, MarketBook, VenueServer

    settings = load_settings(args.params)

    books = {"usdm": MarketBook("usdm"), "spot": MarketBook("spot")}
    for path in args.data:
        info = describe_path(path)
        if not info:
            raise ValueError(f"{path}: name it like binance_usdm_BTCUSDT_1h.csv.gz so the venue knows the "
                             "market, symbol and timeframe")
        book = books[info["market"]]
        if "timeframe" in info:
            book.add_bars(info["symbol"], load_ohlcv(path, gaps="ignore"))
        else:
            book.add_funding(info["symbol"], load_funding(path))
    books["usdm"].rate_limit_scale = args.rate_limit_scale
    replaying = args.start is not None or args.speed is not None
    key = os.environ.get("AUTOBOT_VENUE_API_KEY") or DEMO_API_KEY
    secret = os.environ.get("AUTOBOT_VENUE_API_SECRET") or DEMO_API_SECRET
    server = VenueServer(usdm=books["usdm"], spot=books["spot"], host=args.host, port=args.port,
                         api_keys={key: secret}, start=(args.start or "auto") if replaying else None,
                         speed=args.speed or "manual", balance=args.balance, taker_fee=settings.TAKER_FEE,
                         maker_fee=settings.MAKER_FEE)
    print(f"venue on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    if server.replay is not None:
        import pandas as pd

        print(f"replaying from {pd.Timestamp(server.now_ms(), unit='ms', tz='UTC'):%Y-%m-%d %H:%M} UTC at "
              f"{server.speed}{' bars/s' if isinstance(server.speed, float) else ''}; API key {key}", flush=True)
    server.serve_forever()
    return 0
