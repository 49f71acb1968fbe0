"""The ``autobot`` command. Each subcommand parses its arguments and calls the library; no logic here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from autobot_lib import __version__

if TYPE_CHECKING:
    import pandas as pd

EPILOG = "Run 'autobot COMMAND --help' for the options of a command."


def _add_research(p: argparse.ArgumentParser, out: str) -> None:
    p.add_argument("--symbols", nargs="+", required=True, help="e.g. BTCUSDT ETHUSDT (one shared account)")
    p.add_argument("--data", nargs="*", default=[], help="OHLCV files, matched to symbols by name (default: the cache)")
    p.add_argument("--funding", nargs="*", default=[], help="funding-rate files, matched by name")
    p.add_argument("--from", dest="start", help="first bar, a UTC date (default: the start of the data)")
    p.add_argument("--to", dest="end", help="last bar, a UTC date (default: the end of the data)")
    p.add_argument("-t", "--timeframe", default="1h", help="(default: %(default)s)")
    p.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")
    p.add_argument("--strategy", choices=["autobot", "donchian"], help="override STRATEGY")
    p.add_argument("--equity", type=float, default=10_000.0, help="(default: %(default)s)")
    p.add_argument("--taker-fee", type=float, help="override TAKER_FEE (default: the settings', 0.0005)")
    p.add_argument("--slippage-bps", type=float, help="override SLIPPAGE_BPS (default: the settings', 1.0)")
    p.add_argument("--out", default=out, help="report folder (default: %(default)s)")
    _add_market(p)


def _add_market(p: argparse.ArgumentParser) -> None:
    p.add_argument("--market", choices=["usdm", "spot"], default="usdm",
                   help="Binance USD-M perpetual futures (default) or spot")
    p.add_argument("--cache-dir", default="data/cache", help="where downloaded data is cached (default: %(default)s)")
    p.add_argument("--base-url", help="talk to another Binance-compatible host, e.g. the local venue "
                                      "http://127.0.0.1:PORT (default: Binance itself)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autobot", description="AUTOBOT Workbench: research and trading for "
                                     "Binance USD-M perpetual futures.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"autobot {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    _add_market(fetch)

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
    _add_market(show)

    demo = sub.add_parser("demo", help="the embedded demo: data, indicators, regimes, an HTML report",
                          description="Load the default market (cache, else download, else a SYNTHETIC market), "
                                      "compute indicators and regimes, write an HTML report, run notebooks 01, 02 "
                                      "and 04 through papermill, and print every report's path.")
    demo.add_argument("--symbol", default="BTCUSDT", help="(default: %(default)s)")
    demo.add_argument("-t", "--timeframe", default="1h", help="(default: %(default)s)")
    demo.add_argument("--bars", type=int, default=3000, help="history length (default: %(default)s)")
    demo.add_argument("--out", default="reports", help="report folder (default: %(default)s)")
    demo.add_argument("--offline", action="store_true", help="do not try to download")
    demo.add_argument("--cache-dir", default="data/cache", help="(default: %(default)s)")
    demo.add_argument("--base-url", help="download from this Binance-compatible host instead")
    demo.add_argument("--no-notebooks", action="store_true", help="only the market page, not notebooks 01, 02, 04")

    explain = sub.add_parser("explain", help="why (no) trades: the decision funnel of a period",
                             description="Run the decision pipeline over every bar of a period, from a flat account, "
                                         "and print the funnel: bars evaluated, signals, gate blocks and vetoes by "
                                         "reason, sizes that rounded to zero, orders.")
    explain.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    explain.add_argument("--from", dest="start", required=True, help="first bar, a UTC date")
    explain.add_argument("--to", dest="end", help="last bar, a UTC date (default: the end of the data)")
    explain.add_argument("--data", help="an OHLCV file (default: the cache of --symbol)")
    explain.add_argument("-t", "--timeframe", default="1h", help="(default: %(default)s)")
    explain.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")
    explain.add_argument("--strategy", choices=["autobot", "donchian"], help="override STRATEGY")
    explain.add_argument("--equity", type=float, default=10_000.0, help="account equity (default: %(default)s)")
    explain.add_argument("--journal", metavar="JSONL", help="also write every decision record here")
    _add_market(explain)

    backtest = sub.add_parser("backtest", help="backtest a strategy on one or more symbols, with a report",
                              description="Run the event-driven USD-M backtester (the live decision path) over a "
                                          "period, print the metrics and the funnel, and write an HTML report, the "
                                          "trade log (CSV), the equity curve and an Excel summary.")
    _add_research(backtest, "reports/backtest")

    sweep = sub.add_parser("sweep", help="Donchian parameter grid on the vectorbt fast path, with heatmaps",
                           description="Sweep Donchian (entry, exit) channel lengths across symbols in one "
                                       "vectorbt call per symbol, on Dask; print the best and write a CSV and "
                                       "heatmaps.")
    _add_research(sweep, "reports/sweep")
    sweep.add_argument("--entries", nargs="+", type=int, default=[10, 20, 30, 40, 55], help="entry channel lengths")
    sweep.add_argument("--exits", nargs="+", type=int, default=[5, 10, 15, 20], help="exit channel lengths")
    sweep.add_argument("--metric", default="sharpe", help="rank and heatmap by (default: %(default)s)")
    sweep.add_argument("--scheduler", help="a Dask scheduler address tcp://host:port, or 'sync' (default: a "
                                           "local cluster)")

    walk = sub.add_parser("walkforward", help="walk-forward: tune on each train window, trade the next out of sample",
                          description="Rolling (or anchored) walk-forward over the event-driven engine: every "
                                      "grid combination is backtested on each train window (on Dask), the best "
                                      "by --objective trades the next test window; prints the folds, the "
                                      "stitched out-of-sample result and parameter stability.")
    _add_research(walk, "reports/walkforward")
    walk.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                      help="settings to tune, e.g. ACTIVATION_THRESHOLD=0.4,0.5 donchian.atr_stop_k=1.2,2")
    walk.add_argument("--train-bars", type=int, default=4000, help="(default: %(default)s)")
    walk.add_argument("--test-bars", type=int, default=1000, help="(default: %(default)s)")
    walk.add_argument("--anchored", action="store_true", help="train windows all start at the first bar")
    walk.add_argument("--objective", default="sharpe_annualised",
                      choices=["sharpe_annualised", "total_return", "profit_factor", "expectancy", "sortino_annualised"])
    walk.add_argument("--scheduler", help="a Dask scheduler address tcp://host:port, or 'sync' (default: a "
                                          "local cluster)")

    baseline = sub.add_parser("baseline", help="write (or check) the golden regression baseline",
                              description="Regenerate the golden baseline: decisions, stops, reasons and metrics "
                                          "of fixed runs on fixed real data. With --check, compare instead and exit "
                                          "1 on any difference.")
    baseline.add_argument("--data-dir", default="../shared/data/ohlcv", help="real data (default: %(default)s)")
    baseline.add_argument("--output", default="tests/golden/baseline.json", help="(default: %(default)s)")
    baseline.add_argument("--check", action="store_true", help="compare with --output instead of writing it")

    notebook = sub.add_parser("run-notebook", help="run a research notebook headless with papermill",
                              description="Execute notebooks/NAME with papermill into OUT/<date>/NAME.ipynb and a "
                                          "standalone NAME.html. Parameters are checked against the notebook's "
                                          "parameters cell before any kernel starts.")
    notebook.add_argument("name", help="e.g. 01_explore, explore, 02_backtest")
    notebook.add_argument("-f", "--params", help="a preset in params/ (its notebook: section, and its settings)")
    notebook.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                          help="one parameter (YAML value: 0.5, [BTCUSDT, ETHUSDT], true); repeatable")
    notebook.add_argument("--out", default="reports", help="report root (default: %(default)s)")
    notebook.add_argument("--date", help="the report's date folder (default: today, UTC)")
    notebook.add_argument("--list", action="store_true", help="list the notebook's parameters and exit")

    schedule = sub.add_parser("schedule", help="run the daily report every day at a UTC time",
                              description="Render notebooks/04_daily_report for the previous UTC day every day at "
                                          "--at (UTC) into OUT/<day>/, until stopped; --once renders one day and "
                                          "exits (for cron or a systemd timer). Rerunning a day replaces its "
                                          "report whole.")
    schedule.add_argument("job", choices=["daily-report"])
    schedule.add_argument("--at", default="00:05", help="UTC time of day HH:MM (default: %(default)s)")
    schedule.add_argument("--once", action="store_true", help="render one report now and exit")
    schedule.add_argument("--date", help="with --once: the day to report (default: yesterday, UTC)")
    schedule.add_argument("-f", "--params", help="a preset in params/")
    schedule.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    schedule.add_argument("--out", default="reports", help="(default: %(default)s)")

    health = sub.add_parser("health", help="is the bot alive? its heartbeat file and, optionally, its /metrics",
                            description="Check the bot's heartbeat file (HEARTBEAT_FILE, or --heartbeat) and, with "
                                        "--metrics or --metrics-url, the bot_heartbeat_ts its Prometheus endpoint "
                                        "shows. Exit status 0 when every heartbeat checked is younger than "
                                        "--max-age seconds, 1 otherwise (for Docker or systemd health checks).")
    health.add_argument("--heartbeat", metavar="PATH", help="the heartbeat file (default: HEARTBEAT_FILE)")
    health.add_argument("--max-age", type=float, metavar="SEC",
                        help="oldest healthy heartbeat, seconds (default: HEARTBEAT_MAX_AGE_SEC, 900)")
    health.add_argument("--metrics", action="store_true",
                        help="also scrape http://127.0.0.1:METRICS_PORT/metrics (default port 9108)")
    health.add_argument("--metrics-url", metavar="URL", help="also scrape this /metrics URL")
    health.add_argument("--no-file", action="store_true", help="check only the metrics endpoint")
    health.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")

    live = sub.add_parser(
        "live", help="run the trading bot: dry-run, testnet (Binance demo trading) or live",
        description="Warm the indicators on history, reconcile with the exchange (the exchange is the truth), "
                    "then run the one decision pipeline on every closed bar and execute it: market entries, "
                    "protective reduce-only stops through Binance's algo endpoint, trailing, exits. State goes "
                    "to Redis or SQLite (STATE_STORE), alerts to Telegram/Slack, metrics to /metrics "
                    "(METRICS_PORT). Modes: dry-run simulates fills in-process on live data; testnet uses "
                    "Binance demo trading (demo-trading keys); live trades real money and needs --confirm-live.",
        epilog="Examples: autobot live --mode dry-run --symbols BTCUSDT ETHUSDT;  "
               "autobot live --mode testnet --symbols BTCUSDT --base-url http://127.0.0.1:8765 (the local venue). "
               "The bot runs the decision kernels interpreted (a bar at a time they need no compiler, and "
               "numba's would hold ~110 MB); AUTOBOT_JIT=1 in the environment compiles them instead.")
    live.add_argument("--mode", required=True, choices=["dry-run", "testnet", "live"])
    live.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="USD-M symbols (default: TRADING_SYMBOLS)")
    live.add_argument("--base-url", help="trade against the local venue at this URL instead of Binance")
    live.add_argument("--confirm-live", action="store_true", help="required with --mode live: real money")
    live.add_argument("--duration", type=float, metavar="SEC", help="stop after this many seconds")
    live.add_argument("--bars", type=int, metavar="N", help="stop after N closed bars (all symbols together)")
    live.add_argument("--no-metrics", action="store_true", help="do not serve /metrics")
    live.add_argument("--rearm", metavar="NAME", help="re-arm a tripped kill switch at start, in NAME's name "
                                                      "(it survives restarts; trip it by hand with kill -USR1 PID)")
    live.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")

    venue = sub.add_parser(
        "venue", help="serve a local Binance-compatible venue from data files (market data and trading)",
        description="Serve Binance USD-M (and spot market-data) endpoints on 127.0.0.1 from files named like "
                    "binance_usdm_BTCUSDT_1h.csv.gz (funding files too), for the real ccxt client: klines, "
                    "tickers, signed trading (orders, algo stops, positions, leverage), kline and user-data "
                    "WebSockets. With --start or --speed it replays the USD-M candles and matches orders on "
                    "them. Signed requests use AUTOBOT_VENUE_API_KEY / AUTOBOT_VENUE_API_SECRET from the "
                    "environment, else the local demo pair venue-demo-key / venue-demo-secret.",
        epilog="Control a running venue: POST /_venue/advance?bars=N, POST /_venue/fault with JSON "
               '{"kind": "429", "path": "/fapi/v1/order"}, GET /_venue/state. '
               "Example: autobot venue --data binance_usdm_BTCUSDT_1h.csv.gz --start 2025-06-01 --speed 10")
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
    return parser


def _fetch(args: argparse.Namespace) -> int:
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


def _validate(args: argparse.Namespace) -> int:
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


def _load_for_show(args: argparse.Namespace) -> pd.DataFrame:
    from autobot_lib.data import cache_path, load_ohlcv
    from autobot_lib.data.download import ccxt_symbol

    if Path(args.source).exists():
        return load_ohlcv(args.source, args.timeframe)
    path = cache_path(args.cache_dir, args.market, ccxt_symbol(args.source, args.market), args.timeframe or "1h")
    if not path.exists():
        raise FileNotFoundError(f"{args.source} is neither a file nor cached at {path}; "
                                f"fetch it first: autobot data fetch {args.source}")
    return load_ohlcv(path, args.timeframe)


def _show(args: argparse.Namespace) -> int:
    from autobot_lib.data import resample_ohlcv, validate_frame

    frame = _load_for_show(args)
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


def _demo(args: argparse.Namespace) -> int:
    from autobot_lib.demo import run_demo

    path = run_demo(args.symbol, args.timeframe, args.bars, out_dir=args.out, cache_dir=args.cache_dir,
                    base_url=args.base_url, offline=args.offline)
    print(f"report: {path}")
    if not args.no_notebooks:
        from autobot_lib.notebooks import run_notebook

        for name in ("01_explore", "02_backtest", "04_daily_report"):
            print(f"{name}: {run_notebook(name, {}, out_dir=args.out)['html']}", flush=True)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from autobot_lib.config import load_rules, load_settings
    from autobot_lib.data.frame import to_utc
    from autobot_lib.journal import funnel, journal_frame, write_journal
    from autobot_lib.pipeline import journal_history

    overrides = {"STRATEGY": args.strategy} if args.strategy else {}
    settings = load_settings(args.params, **overrides)
    if args.data:
        args.source = args.data
    else:
        args.source = args.symbol
    bars = _load_for_show(args)
    start = to_utc(args.start)
    end = to_utc(args.end) if args.end else bars.index[-1]
    first = max(0, int(bars.index.searchsorted(start)) - 1000)  # warm-up: EMA 200 settles well within it
    window = bars.iloc[first: int(bars.index.searchsorted(end, side="right"))]
    if not len(window) or window.index[-1] < start:
        raise ValueError(f"no {args.symbol} bars between {start:%Y-%m-%d} and {end:%Y-%m-%d}: the data covers "
                         f"{bars.index[0]:%Y-%m-%d} .. {bars.index[-1]:%Y-%m-%d}")
    window.attrs.update(bars.attrs)
    records = journal_history(window, args.symbol, settings, equity=args.equity, rules=load_rules(args.params),
                              start=start)
    journal = journal_frame(records)
    threshold = settings.ACTIVATION_THRESHOLD if settings.STRATEGY == "autobot" else None
    print(f"{args.symbol} {window.attrs.get('timeframe', '')} {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, "
          f"strategy {settings.STRATEGY}, decided from a flat account of {args.equity:,.0f}")
    print(funnel(journal, threshold=threshold).text())
    if args.journal:
        print(f"journal: {write_journal(records, args.journal)}")
    return 0


def _research_inputs(args: argparse.Namespace):
    """Settings, {symbol: bars} and {symbol: funding} from the shared research arguments."""
    from autobot_lib.config import load_settings
    from autobot_lib.data import describe_path, load_funding
    from autobot_lib.data.frame import to_utc

    overrides = {"STRATEGY": args.strategy, "TAKER_FEE": args.taker_fee, "SLIPPAGE_BPS": args.slippage_bps}
    settings = load_settings(args.params, **{k: v for k, v in overrides.items() if v is not None})
    files = {describe_path(p).get("symbol"): p for p in args.data}
    bars, funding = {}, {}
    for symbol in args.symbols:
        args.source = files.get(symbol.upper(), symbol)
        frame = _load_for_show(args)
        start = to_utc(args.start) if args.start else frame.index[0]
        end = to_utc(args.end) if args.end else frame.index[-1]
        window = frame.loc[start:end]
        if not len(window):
            raise ValueError(f"no {symbol} bars between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
        window.attrs.update(frame.attrs)
        bars[symbol.upper()] = window
    for path in args.funding:
        symbol = describe_path(path).get("symbol")
        if symbol in bars:
            funding[symbol] = load_funding(path)
    return settings, bars, funding


def _backtest(args: argparse.Namespace) -> int:
    from autobot_lib.backtest import run_backtest
    from autobot_lib.backtest.report import generate_report, write_backtest_report
    from autobot_lib.config import load_rules
    from autobot_lib.journal import funnel

    settings, bars, funding = _research_inputs(args)
    result = run_backtest(bars, settings, equity=args.equity, funding=funding, rules=load_rules(args.params))
    m = generate_report(result.trades, result.equity["equity"], args.equity).iloc[0]
    first = next(iter(bars.values()))
    print(f"{', '.join(bars)} {first.index[0]:%Y-%m-%d} .. {first.index[-1]:%Y-%m-%d}, strategy {settings.STRATEGY}, "
          f"funding {'real rates' if funding else 'not charged (no --funding file)'}")
    print(f"trades {m['trades']:.0f}  win rate {m['win_rate']:.1%}  payoff {m['payoff_ratio']:.2f}  "
          f"profit factor {m['profit_factor']:.2f}  expectancy {m['expectancy']:.2f}")
    print(f"equity {args.equity:,.0f} -> {m['final_equity']:,.0f} ({m['total_return']:+.1%})  max drawdown "
          f"{m['max_drawdown']:.1%}  Sharpe {m['sharpe_annualised']:.2f} (annualised)  Sortino "
          f"{m['sortino_annualised']:.2f}  mean R {m['mean_r']:.2f}  fees {m['fees']:,.0f}  funding {m['funding']:,.0f}")
    f = funnel(result.journal)
    print(f"funnel: {f.bars} bars, {sum(f.proposed.values())} proposed, {sum(f.gate.values())} gated, "
          f"{sum(f.vetoes.values())} vetoed, {f.orders} orders")
    halted = int(result.equity["halted"].sum())
    if halted:
        print(f"halted {halted} bars by the daily loss limit (BACKTEST_HALT_REARM={settings.BACKTEST_HALT_REARM})")
    for kind, path in write_backtest_report(result, bars, args.out).items():
        print(f"{kind}: {path}")
    return 0


def _baseline(args: argparse.Namespace) -> int:
    import json

    from autobot_lib.backtest import golden

    fresh = golden.generate(args.data_dir)
    if args.check:
        problems = golden.compare(json.loads(Path(args.output).read_text()), fresh)
        for line in problems:
            print(line)
        print("baseline holds" if not problems else f"{len(problems)} difference(s)")
        return 1 if problems else 0
    path = golden.write(fresh, args.output)
    counts = ", ".join(f"{name} {len(run['decisions'])} decisions" for name, run in fresh["runs"].items())
    print(f"baseline: {path} ({counts})")
    notebook = golden.write_notebook(args.data_dir, Path(args.output).with_name(f"{golden.NOTEBOOK}.ipynb"))
    print(f"golden notebook: {notebook}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from autobot_lib.backtest import cost_model
    from autobot_lib.backtest.sweep import heatmap, sweep_on_dask
    from autobot_lib.report import write_html_page
    from autobot_lib._fs import atomic_path

    settings, bars, _ = _research_inputs(args)
    grid = sweep_on_dask(bars, args.entries, args.exits, costs=cost_model(settings), scheduler=args.scheduler)
    if args.metric not in grid.columns:
        raise ValueError(f"--metric must be one of {list(grid.columns[3:])}, got {args.metric!r}")
    import pandas as pd

    with pd.option_context("display.width", 140, "display.max_columns", 12):
        print(grid.sort_values(args.metric, ascending=False).head(10).to_string(index=False))
    out = Path(args.out)
    with atomic_path(out / "sweep.csv") as tmp:
        grid.to_csv(tmp, index=False)
    page = write_html_page(out / "sweep.html", f"Donchian sweep: {', '.join(bars)}",
                           [("Heatmap", heatmap(grid, args.metric)), ("All combinations", grid.set_index("symbol"))])
    print(f"csv: {out / 'sweep.csv'}\nhtml: {page}")
    return 0


def _walkforward(args: argparse.Namespace) -> int:
    from autobot_lib.backtest.walkforward import make_folds, walk_forward
    from autobot_lib.research import walk_forward_figure
    from autobot_lib.report import write_html_page
    from autobot_lib._fs import atomic_path

    settings, bars, _ = _research_inputs(args)
    grid = {}
    for item in args.grid:
        key, _, values = item.partition("=")
        if not values:
            raise ValueError(f"--grid takes KEY=V1,V2,..., got {item!r}")
        grid[key] = [_number(v) for v in values.split(",")]
    folds = make_folds(next(iter(bars.values())).index, args.train_bars, args.test_bars, anchored=args.anchored)
    result = walk_forward(bars, settings, grid, folds, objective=args.objective, scheduler=args.scheduler,
                          equity=args.equity)
    shown = result.folds.drop(columns=["train_start", "train_end"]).copy()
    shown["test_start"] = shown["test_start"].dt.strftime("%Y-%m-%d")
    shown["test_end"] = shown["test_end"].dt.strftime("%Y-%m-%d")
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 14, "display.float_format", "{:.4g}".format):
        print(shown.to_string(index=False))
        print()
        print(result.stability.to_string())
    s = result.summary()
    print(f"\nout of sample: {s['folds']} folds, {s['oos_trades']} trades, return {s['oos_return']:+.2%}, "
          f"max drawdown {s['oos_max_drawdown']:.2%}")
    out = Path(args.out)
    with atomic_path(out / "walkforward_folds.csv") as tmp:
        result.folds.to_csv(tmp, index=False)
    figure = walk_forward_figure(result)
    page = write_html_page(out / "walkforward.html", f"Walk-forward: {', '.join(bars)}",
                           [("Out-of-sample equity", figure), ("Folds", result.folds.set_index("fold")),
                            ("Parameter stability", result.stability)])
    print(f"csv: {out / 'walkforward_folds.csv'}\nhtml: {page}")
    return 0


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _run_notebook(args: argparse.Namespace) -> int:
    from autobot_lib import notebooks

    path = notebooks.notebook_path(args.name)
    if args.list:
        for p in notebooks.parameters(path).values():
            print(f"{p.name:14} {p.type:6} default {p.default:24} {p.help}")
        return 0
    params = notebooks.load_preset(args.params) if args.params else {}
    params.update({key: notebooks.parse_value(value) for key, value in args.parameter})
    try:
        paths = notebooks.run_notebook(path.stem, params, out_dir=args.out, date=args.date)
    except notebooks.NotebookFailed as exc:
        print(f"autobot: error: {exc}", file=sys.stderr)
        return 1
    print(f"notebook: {paths['notebook']}\nhtml: {paths['html']}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    import datetime as dt
    import time

    from autobot_lib import notebooks

    params = notebooks.load_preset(args.params) if args.params else {}
    params.update({key: notebooks.parse_value(value) for key, value in args.parameter})
    notebooks.next_run(dt.datetime.now(dt.timezone.utc), args.at)  # check --at before waiting on it

    def run(day: str) -> None:
        paths = notebooks.daily_report_job(params, args.out, day)
        print(f"{day}: {paths['html']}", flush=True)

    yesterday = lambda: (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()  # noqa: E731
    if args.once:
        run(args.date or yesterday())
        return 0
    while True:
        now = dt.datetime.now(dt.timezone.utc)
        wake = notebooks.next_run(now, args.at)
        print(f"next daily report at {wake:%Y-%m-%d %H:%M} UTC", flush=True)
        time.sleep((wake - now).total_seconds())
        try:
            run(yesterday())
        except notebooks.NotebookFailed as exc:  # one bad day must not stop the schedule
            print(f"autobot: error: {exc}", file=sys.stderr, flush=True)


def _health(args: argparse.Namespace) -> int:
    from autobot_lib.config import load_settings
    from autobot_lib.live.health import health_check

    settings = load_settings(args.params)
    url = args.metrics_url or (f"http://127.0.0.1:{settings.METRICS_PORT}/metrics" if args.metrics else None)
    if args.no_file and not url:
        raise ValueError("--no-file needs --metrics or --metrics-url: there would be nothing to check")
    heartbeat = None if args.no_file else (args.heartbeat or settings.HEARTBEAT_FILE)
    report = health_check(heartbeat, metrics_url=url,
                          max_age_sec=args.max_age if args.max_age is not None else settings.HEARTBEAT_MAX_AGE_SEC)
    print(report.text())
    return 0 if report.healthy else 1


def _venue(args: argparse.Namespace) -> int:
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


def _own_signals(args: argparse.Namespace) -> None:
    """The live bot's signals, whatever it inherited: SIGINT is its stop signal (deploy/ sends it; a
    shell's background job would otherwise start it ignored), and the manual kill switch (SIGUSR1)
    works from the first moment: caught before the heavy imports, applied once the engine's state is
    restored, never fatal."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.early_signals = []
    signal.signal(signal.SIGUSR1, lambda *_: args.early_signals.append("SIGUSR1"))


def _live(args: argparse.Namespace) -> int:
    import asyncio

    from autobot_lib.config import load_settings
    from autobot_lib.live.health import Heartbeat
    from autobot_lib.live.launch import LaunchError, run_live
    from autobot_lib.live.logs import setup_logging_from_settings
    from autobot_lib.live.metrics import BotMetrics
    from autobot_lib.notify.notifier import Notifier
    from autobot_lib.state import open_store

    settings = load_settings(args.params)
    symbols = args.symbols or list(settings.TRADING_SYMBOLS)
    setup_logging_from_settings(settings)
    metrics = None
    if not args.no_metrics:
        metrics = BotMetrics(universe=symbols, timeframe=settings.TIMEFRAME)
        port = metrics.serve(settings.METRICS_PORT, host=settings.METRICS_HOST)
        print(f"metrics on http://{settings.METRICS_HOST}:{port}/metrics", flush=True)
    store = open_store(settings)
    notifier = Notifier.from_settings(settings)
    try:
        engine = asyncio.run(run_live(settings, args.mode, symbols, base_url=args.base_url,
                                      confirm_live=args.confirm_live, duration_s=args.duration, max_bars=args.bars,
                                      store=store, notifier=notifier, metrics=metrics, rearm_by=args.rearm,
                                      early=getattr(args, "early_signals", None),
                                      heartbeat=Heartbeat(settings.HEARTBEAT_FILE, metrics)))
    except LaunchError as exc:
        print(f"autobot: refused: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:    # SIGINT: the stop signal of deploy/ (Docker, pm2, systemd); state is saved per bar
        print("autobot: stopped by SIGINT; open positions keep their stops on the exchange", file=sys.stderr)
        return 130
    finally:
        notifier.close()
        store.close()
        if metrics is not None:
            metrics.stop()
    print(f"{len(engine.journal)} bars decided, {len(engine.trades)} trades closed, "
          f"{len(engine.held)} positions open (protected on the exchange), trading state {engine.kill.state.value}")
    return 0


_HANDLERS = {("data", "fetch"): _fetch, ("data", "validate"): _validate, ("data", "show"): _show,
             ("demo", None): _demo, ("venue", None): _venue, ("explain", None): _explain,
             ("backtest", None): _backtest, ("baseline", None): _baseline, ("sweep", None): _sweep,
             ("walkforward", None): _walkforward, ("run-notebook", None): _run_notebook,
             ("schedule", None): _schedule, ("health", None): _health, ("live", None): _live}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "live":
        _own_signals(args)
        os.environ.setdefault("AUTOBOT_JIT", "0")    # read once, by the first import of the kernels: see _jit
    try:
        from autobot_lib import _jit  # noqa: F401  (reads AUTOBOT_JIT before any kernel is imported)
    except ValueError as exc:
        print(f"autobot: error: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s",
                        stream=sys.stderr)
    # data-quality warnings are news for the user, not a Python source location
    warnings.formatwarning = lambda message, category, *rest, **kw: f"{category.__name__}: {message}\n"
    from autobot_lib.config import ConfigError
    from autobot_lib.data import DataDownloadError, DataValidationError
    from autobot_lib.notebooks import NotebookError
    from autobot_lib.rules import ConditionError

    handler = _HANDLERS[(args.command, getattr(args, "data_command", None))]
    try:
        return handler(args)
    except (DataValidationError, DataDownloadError, ConfigError, ConditionError, FileNotFoundError, KeyError,
            ValueError, ConnectionError, NotebookError) as exc:
        print(f"autobot: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
