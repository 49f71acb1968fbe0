"""``autobot data fetch|validate|show``: download into the cache, check files, show bars."""

from __future__ import annotations

import argparse
import warnings

from autobot_lib.cli._common import add_market, load_for_show


def add_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="fetch, validate and show market data",
                          description="Market data: download with ccxt into the cache, check files, show them.")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    fetch = dsub.add_parser("fetch", help="download candles (and funding) from Binance public endpoints",
                            description="Download closed candles from a start date into the cache, resuming "
                                        "from what is cached. No API key is needed.")
    fetch.add_argument("symbols", nargs="+", metavar="SYMBOL", help="Binance ids, e.g. BTCUSDT ETHUSDT")
    fetch.add_argument("-t", "--timeframe", default="1h", help="bar size, e.g. 5m, 1h, 4h, 1d (default: %(default)s)")
    fetch.add_argument("--since", default="2024-01-01", help="first bar, a UTC date (default: %(default)s)")
    fetch.add_argument("--until", help="stop before this UTC date (default: now)")
    fetch.add_argument("--funding", action="store_true", help="also fetch funding-rate history (USD-M only)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_market(fetch)

    validate = dsub.add_parser("validate", help="check OHLCV files and report every problem",
                               description="Check files for duplicates, unsorted rows, gaps, NaN, bad prices and "
                                           "zero-volume bars. Exit status 1 when any file has errors.")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="CSV, CSV.gz or parquet files")
    validate.add_argument("-t", "--timeframe", help="expected bar size (default: from the file name or the data)")
    validate.add_argument("--strict-gaps", action="store_true", help="count gaps as errors")
    validate.add_argument("--repair-to", metavar="OUT", help="write a repaired copy (duplicates dropped, sorted, bad "
                                                             "rows dropped; gaps kept) to OUT")
    validate.add_argument("--limit", type=int, default=10, help="problems listed per file (default: %(default)s)")

    show = dsub.add_parser("show", help="print bars, their quality and optionally a chart",
                           description="Show a file or a cached series: first and last bars, a quality summary, "
                                       "and with --plot an HTML chart with indicators and regimes.")
    show.add_argument("source", metavar="PATH_OR_SYMBOL", help="a data file, or a symbol in the cache")
    show.add_argument("-t", "--timeframe", default=None, help="bar size for a cached symbol (default: 1h)")
    show.add_argument("--resample", metavar="TF", help="aggregate to a higher timeframe first, e.g. 4h")
    show.add_argument("--rows", type=int, default=5, help="bars shown at each end (default: %(default)s)")
    show.add_argument("--plot", metavar="HTML", help="write a chart page with indicators and regimes")
    add_market(show)


def run(args: argparse.Namespace) -> int:
    return {"fetch": fetch, "validate": validate, "show": show}[args.data_command](args)


def fetch(args: argparse.Namespace) -> int:
    from autobot_lib.data import fetch_funding, fetch_ohlcv

    for symbol in args.symbols:
        frame = fetch_ohlcv(symbol, args.timeframe, since=args.since, until=args.until, market=args.market,
                            cache_dir=args.cache_dir, base_url=args.base_url, progress=not args.no_progress)
        print(f"{symbol} {args.timeframe}: {len(frame)} bars {frame.index[0]:%Y-%m-%d %H:%M} .. "
              f"{frame.index[-1]:%Y-%m-%d %H:%M} UTC -> {args.cache_dir}")
        if args.funding:
            if args.market != "usdm":
                raise ValueError("--funding needs --market usdm: spot has no funding")
            rates = fetch_funding(symbol, since=args.since, until=args.until, cache_dir=args.cache_dir,
                                  base_url=args.base_url, progress=not args.no_progress)
            print(f"{symbol} funding: {len(rates)} events")
    return 0


def validate(args: argparse.Namespace) -> int:
    from autobot_lib.data import inspect_ohlcv, load_ohlcv, save_frame

    failed = 0
    for path in args.paths:
        report = inspect_ohlcv(path, args.timeframe)
        print(report.summary(limit=args.limit))
        bad = bool(report.errors) or (args.strict_gaps and bool(report.gaps))
        failed += bad
        print(f"  verdict: {'FAIL' if bad else 'OK'}")
        if args.repair_to:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                repaired = load_ohlcv(path, args.timeframe, repair=True, gaps="ignore")
            print(f"  repaired copy ({len(repaired)} bars) -> {save_frame(repaired, args.repair_to)}")
    return 1 if failed else 0


def show(args: argparse.Namespace) -> int:
    from autobot_lib.data import resample_ohlcv, validate_frame

    frame = load_for_show(args)
    if args.resample:
        frame = resample_ohlcv(frame, args.resample)
    print(validate_frame(frame).summary())
    import pandas as pd

    with pd.option_context("display.width", 120, "display.max_columns", 10):
        print(frame.head(args.rows).to_string())
        print("...")
        print(frame.tail(args.rows).to_string())
    if args.plot:
        from autobot_lib.demo import market_overview

        print(f"chart: {market_overview(frame, args.plot)}")
    return 0
