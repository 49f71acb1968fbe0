"""``autobot health``: the bot's heartbeat file and, optionally, its /metrics."""

from __future__ import annotations

import argparse

from autobot_lib.cli._common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    health = add_command(sub, "health", "is the bot alive? its heartbeat file and, optionally, its /metrics", """
        Check the bot's heartbeat file (HEARTBEAT_FILE, or --heartbeat) and, with --metrics or --metrics-url, the
        bot_heartbeat_ts its Prometheus endpoint shows. Exit status 0 when every heartbeat checked is younger than
        --max-age seconds, 1 otherwise (for Docker or systemd health checks).""")
    health.add_argument("--heartbeat", metavar="PATH", help="the heartbeat file (default: HEARTBEAT_FILE)")
    health.add_argument("--max-age", type=float, metavar="SEC",
                        help="oldest healthy heartbeat, seconds (default: HEARTBEAT_MAX_AGE_SEC, 900)")
    health.add_argument("--metrics", action="store_true",
                        help="also scrape http://127.0.0.1:METRICS_PORT/metrics (default port 9108)")
    health.add_argument("--metrics-url", metavar="URL", help="also scrape this /metrics URL")
    health.add_argument("--no-file", action="store_true", help="check only the metrics endpoint")
    health.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")


def run(args: argparse.Namespace) -> int:
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
