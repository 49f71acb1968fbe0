"""``autobot baseline``: write or check the golden regression baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from autobot_lib.cli._common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    baseline = add_command(sub, "baseline", "write (or check) the golden regression baseline", """
        Regenerate the golden baseline: decisions, stops, reasons and metrics of fixed runs on fixed real data.
        With --check, compare instead and exit 1 on any difference.""")
    baseline.add_argument("--data-dir", default="../shared/data/ohlcv", help="real data (default: %(default)s)")
    baseline.add_argument("--output", default="tests/golden/baseline.json", help="(default: %(default)s)")
    baseline.add_argument("--check", action="store_true", help="compare with --output instead of writing it")


def run(args: argparse.Namespace) -> int:
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
