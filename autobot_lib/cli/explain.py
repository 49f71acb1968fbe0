"""``autobot explain``: the decision funnel of a period."""

from __future__ import annotations

import argparse

from autobot_lib.cli._common import add_market, load_for_show


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    add_market(explain)


def run(args: argparse.Namespace) -> int:
    from autobot_lib.config import load_rules, load_settings
    from autobot_lib.data.frame import to_utc
    from autobot_lib.journal import funnel, journal_frame, write_journal
    from autobot_lib.pipeline import journal_history
    from autobot_lib.plan import compile_plan

    overrides = {"STRATEGY": args.strategy} if args.strategy else {}
    settings = load_settings(args.params, **overrides)
    if args.data:
        args.source = args.data
    else:
        args.source = args.symbol
    bars = load_for_show(args)
    start = to_utc(args.start)
    end = to_utc(args.end) if args.end else bars.index[-1]
    first = max(0, int(bars.index.searchsorted(start)) - 1000)  # warm-up: EMA 200 settles well within it
    window = bars.iloc[first: int(bars.index.searchsorted(end, side="right"))]
    if not len(window) or window.index[-1] < start:
        raise ValueError(f"no {args.symbol} bars between {start:%Y-%m-%d} and {end:%Y-%m-%d}: the data covers "
                         f"{bars.index[0]:%Y-%m-%d} .. {bars.index[-1]:%Y-%m-%d}")
    window.attrs.update(bars.attrs)
    records = journal_history(window, args.symbol, compile_plan(settings, load_rules(args.params)),
                              equity=args.equity, start=start)
    journal = journal_frame(records)
    threshold = settings.ACTIVATION_THRESHOLD if settings.STRATEGY == "autobot" else None
    print(f"{args.symbol} {window.attrs.get('timeframe', '')} {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, "
          f"strategy {settings.STRATEGY}, decided from a flat account of {args.equity:,.0f}")
    print(funnel(journal, threshold=threshold).text())
    if args.journal:
        print(f"journal: {write_journal(records, args.journal)}")
    return 0
