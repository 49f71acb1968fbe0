"""``autobot schedule daily-report``: the daily report every day at a UTC time."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    schedule = sub.add_parser("schedule", help="run the daily report every day at a UTC time",
                              description="Render notebooks/04_daily_report for the previous UTC day every day at "
                                          "--at (UTC) into OUT/<day>/, until stopped; --once renders one day and "
                                          "exits (for cron or a systemd timer). Rerunning a day replaces its "
                                          "report whole. To report what the live bot traded, give its trade log "
                                          "(-p trades_csv data/live_trades_live.csv) or its state store "
                                          "(-p state_store settings, or a SQLite file); with neither the report "
                                          "backtests the data.")
    schedule.add_argument("job", choices=["daily-report"])
    schedule.add_argument("--at", default="00:05", help="UTC time of day HH:MM (default: %(default)s)")
    schedule.add_argument("--once", action="store_true", help="render one report now and exit")
    schedule.add_argument("--date", help="with --once: the day to report (default: yesterday, UTC)")
    schedule.add_argument("-f", "--params", help="a preset in params/")
    schedule.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    schedule.add_argument("--out", default="reports", help="(default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import time

    from autobot_lib import notebooks

    params = notebooks.load_preset(args.params) if args.params else {}
    params.update({key: notebooks.parse_value(value) for key, value in args.parameter})
    notebooks.next_run(dt.datetime.now(dt.timezone.utc), args.at)  # check --at before waiting on it

    def report(day: str) -> None:
        paths = notebooks.daily_report_job(params, args.out, day)
        print(f"{day}: {paths['html']}", flush=True)

    yesterday = lambda: (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date().isoformat()  # noqa: E731
    if args.once:
        report(args.date or yesterday())
        return 0
    while True:
        now = dt.datetime.now(dt.timezone.utc)
        wake = notebooks.next_run(now, args.at)
        print(f"next daily report at {wake:%Y-%m-%d %H:%M} UTC", flush=True)
        time.sleep((wake - now).total_seconds())
        try:
            report(yesterday())
        except notebooks.NotebookFailed as exc:  # one bad day must not stop the schedule
            print(f"autobot: error: {exc}", file=sys.stderr, flush=True)
