"""The ``autobot`` command. One module per subcommand, each holding only its arguments (``add_parser``) and
its run (``run``: parse, call the library, print); this module assembles the parser and maps errors to exit
statuses.

Command modules import only the standard library at module level: pandas, ccxt, numba and the like are
imported inside ``run``, so a command pays only for what it uses (the live bot's start-up time and memory
depend on it)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from autobot_lib import __version__
from autobot_lib.cli import (backtest, baseline, data, demo, explain, health, live, run_notebook, schedule, sweep,
                             venue, walkforward)

EPILOG = "Run 'autobot COMMAND --help' for the options of a command."

# the subcommands, in the order of `autobot --help`
COMMANDS = {"data": data, "demo": demo, "explain": explain, "backtest": backtest, "sweep": sweep,
            "walkforward": walkforward, "baseline": baseline, "run-notebook": run_notebook, "schedule": schedule,
            "health": health, "live": live, "venue": venue}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autobot", description="AUTOBOT Workbench: research and trading for "
                                     "Binance USD-M perpetual futures.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"autobot {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "live":
        live.own_signals(args)
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

    try:
        return COMMANDS[args.command].run(args)
    except (DataValidationError, DataDownloadError, ConfigError, ConditionError, FileNotFoundError, KeyError,
            ValueError, ConnectionError, NotebookError) as exc:
        print(f"autobot: error: {exc}", file=sys.stderr)
        return 1
