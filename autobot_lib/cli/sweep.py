"""``autobot sweep``: the Donchian grid on the vectorbt fast path."""

from __future__ import annotations

import argparse
from pathlib import Path

from autobot_lib.cli._common import add_command, add_research, research_inputs


def add_parser(sub: argparse._SubParsersAction) -> None:
    sweep = add_command(sub, "sweep", "Donchian parameter grid on the vectorbt fast path, with heatmaps", """
        Sweep Donchian (entry, exit) channel lengths across symbols in one vectorbt call per symbol, on Dask;
        print the best and write a CSV and heatmaps.""")
    add_research(sweep, "reports/sweep")
    sweep.add_argument("--entries", nargs="+", type=int, default=[10, 20, 30, 40, 55], help="entry channel lengths")
    sweep.add_argument("--exits", nargs="+", type=int, default=[5, 10, 15, 20], help="exit channel lengths")
    sweep.add_argument("--metric", default="sharpe", help="rank and heatmap by (default: %(default)s)")
    sweep.add_argument("--scheduler", help="a Dask scheduler address tcp://host:port, or 'sync' (default: a "
                                           "local cluster)")


def run(args: argparse.Namespace) -> int:
    from autobot_lib.backtest import cost_model
    from autobot_lib.backtest.sweep import heatmap, sweep_on_dask
    from autobot_lib.report import write_html_page
    from autobot_lib._fs import atomic_path

    settings, bars, _ = research_inputs(args)
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
