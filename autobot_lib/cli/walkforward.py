"""``autobot walkforward``: tune on each train window, trade the next out of sample."""

from __future__ import annotations

import argparse
from pathlib import Path

from autobot_lib.cli._common import add_command, add_research, research_inputs


def add_parser(sub: argparse._SubParsersAction) -> None:
    walk = add_command(
        sub, "walkforward", "walk-forward: tune on each train window, trade the next out of sample", """
        Rolling (or anchored) walk-forward over the event-driven engine: every grid combination is backtested on
        each train window (on Dask), the best by --objective trades the next test window; prints the folds, the
        stitched out-of-sample result and parameter stability.""")
    add_research(walk, "reports/walkforward")
    walk.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                      help="settings to tune, e.g. ACTIVATION_THRESHOLD=0.4,0.5 donchian.atr_stop_k=1.2,2")
    walk.add_argument("--train-bars", type=int, default=4000, help="(default: %(default)s)")
    walk.add_argument("--test-bars", type=int, default=1000, help="(default: %(default)s)")
    walk.add_argument("--anchored", action="store_true", help="train windows all start at the first bar")
    walk.add_argument("--objective", default="sharpe_annualised",
                      choices=["sharpe_annualised", "total_return", "profit_factor", "expectancy", "sortino_annualised"])
    walk.add_argument("--scheduler", help="a Dask scheduler address tcp://host:port, or 'sync' (default: a "
                                          "local cluster)")


def run(args: argparse.Namespace) -> int:
    from autobot_lib.backtest.walkforward import make_folds, walk_forward
    from autobot_lib.research import walk_forward_figure
    from autobot_lib.report import write_html_page
    from autobot_lib._fs import atomic_path

    settings, bars, _ = research_inputs(args)
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
