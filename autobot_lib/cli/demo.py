"""``autobot demo``: the embedded demo's market page and notebooks."""

from __future__ import annotations

import argparse

from autobot_lib.cli._common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = add_command(sub, "demo", "the embedded demo: data, indicators, regimes, an HTML report", """
        Load the default market (cache, else download, else a SYNTHETIC market), compute indicators and regimes,
        write an HTML report, run notebooks 01, 02 and 04 through papermill, and print every report's path.""")
    demo.add_argument("--symbol", default="BTCUSDT", help="(default: %(default)s)")
    demo.add_argument("-t", "--timeframe", default="1h", help="(default: %(default)s)")
    demo.add_argument("--bars", type=int, default=3000, help="history length (default: %(default)s)")
    demo.add_argument("--out", default="reports", help="report folder (default: %(default)s)")
    demo.add_argument("--offline", action="store_true", help="do not try to download")
    demo.add_argument("--cache-dir", default="data/cache", help="(default: %(default)s)")
    demo.add_argument("--base-url", help="download from this Binance-compatible host instead")
    demo.add_argument("--no-notebooks", action="store_true", help="only the market page, not notebooks 01, 02, 04")


def run(args: argparse.Namespace) -> int:
    from autobot_lib.demo import run_demo

    path = run_demo(args.symbol, args.timeframe, args.bars, out_dir=args.out, cache_dir=args.cache_dir,
                    base_url=args.base_url, offline=args.offline)
    print(f"report: {path}")
    if not args.no_notebooks:
        from autobot_lib.notebooks import run_notebook

        for name in ("01_explore", "02_backtest", "04_daily_report"):
            print(f"{name}: {run_notebook(name, {}, out_dir=args.out)['html']}", flush=True)
    return 0
