"""``autobot run-notebook``: one research notebook, headless, through papermill."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def run(args: argparse.Namespace) -> int:
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
