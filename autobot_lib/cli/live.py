"""``autobot live``: the trading bot (dry-run, testnet or live)."""

from __future__ import annotations

import argparse
import sys

from autobot_lib.cli._common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    live = add_command(sub, "live", "run the trading bot: dry-run, testnet (Binance demo trading) or live", """
        Warm the indicators on history, reconcile with the exchange (the exchange is the truth), then run the one
        decision pipeline on every closed bar and execute it: market entries, protective reduce-only stops through
        Binance's algo endpoint, trailing, exits. State goes to Redis or SQLite (STATE_STORE), alerts to
        Telegram/Slack, metrics to /metrics (METRICS_PORT). Each closed trade is appended to
        live_trades_<mode>.csv in the data folder (donchian.data_dir for the Donchian strategy, else the folder of
        STATE_DB_PATH) and kept in the state store, for the daily report. Modes: dry-run simulates fills
        in-process on live data; testnet uses Binance demo trading (demo-trading keys); live trades real money and
        needs --confirm-live.""",
        epilog="""
        Examples: autobot live --mode dry-run --symbols BTCUSDT ETHUSDT; autobot live --mode testnet --symbols
        BTCUSDT --base-url http://127.0.0.1:8765 (the local venue). The bot runs the decision kernels interpreted
        (a bar at a time they need no compiler, and numba's would hold ~110 MB); AUTOBOT_JIT=1 in the environment
        compiles them instead.""")
    live.add_argument("--mode", choices=["dry-run", "testnet", "live"],
                      help="default: the mode the settings name (DRY_RUN or ENVIRONMENT=DRY_RUN: dry-run; "
                           "ENVIRONMENT=LIVE with USE_TESTNET=false: live; else testnet)")
    live.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="USD-M symbols (default: TRADING_SYMBOLS)")
    live.add_argument("--base-url", help="trade against the local venue at this URL instead of Binance")
    live.add_argument("--confirm-live", action="store_true", help="required with --mode live: real money")
    live.add_argument("--duration", type=float, metavar="SEC", help="stop after this many seconds")
    live.add_argument("--bars", type=int, metavar="N", help="stop after N closed bars (all symbols together)")
    live.add_argument("--no-metrics", action="store_true", help="do not serve /metrics")
    live.add_argument("--rearm", metavar="NAME", help="re-arm a tripped kill switch at start, in NAME's name "
                                                      "(it survives restarts; trip it by hand with kill -USR1 PID)")
    live.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")


def own_signals(args: argparse.Namespace) -> None:
    """The live bot's signals, whatever it inherited: SIGINT is its stop signal (deploy/ sends it; a
    shell's background job would otherwise start it ignored), and the manual kill switch (SIGUSR1)
    works from the first moment: caught before the heavy imports, applied once the engine's state is
    restored, never fatal."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.early_signals = []
    signal.signal(signal.SIGUSR1, lambda *_: args.early_signals.append("SIGUSR1"))


def run(args: argparse.Namespace) -> int:
    import asyncio

    from autobot_lib.config import load_rules, load_settings
    from autobot_lib.live.health import Heartbeat
    from autobot_lib.live.launch import LaunchError, run_live, settings_mode, startup_banner
    from autobot_lib.live.logs import setup_logging_from_settings
    from autobot_lib.live.metrics import BotMetrics
    from autobot_lib.live.trade_log import trade_log_path
    from autobot_lib.notify.notifier import Notifier
    from autobot_lib.state import open_store

    settings = load_settings(args.params)
    args.mode = args.mode or settings_mode(settings)
    symbols = args.symbols or list(settings.TRADING_SYMBOLS)
    print(startup_banner(settings, args.mode, symbols), flush=True)
    setup_logging_from_settings(settings)
    metrics = None
    if not args.no_metrics:
        metrics = BotMetrics(universe=symbols, timeframe=settings.TIMEFRAME)
        port = metrics.serve(settings.METRICS_PORT, host=settings.METRICS_HOST)
        print(f"metrics on http://{settings.METRICS_HOST}:{port}/metrics", flush=True)
    store = open_store(settings)
    trade_log = trade_log_path(settings, args.mode)
    print(f"closed trades: {trade_log} and the state store", flush=True)
    notifier = Notifier.from_settings(settings)
    try:
        engine = asyncio.run(run_live(settings, args.mode, symbols, base_url=args.base_url,
                                      confirm_live=args.confirm_live, duration_s=args.duration, max_bars=args.bars,
                                      store=store, notifier=notifier, metrics=metrics, rearm_by=args.rearm,
                                      early=getattr(args, "early_signals", None), rules=load_rules(args.params),
                                      heartbeat=Heartbeat(settings.HEARTBEAT_FILE, metrics), trade_log=trade_log))
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
    print(engine.status.summary())
    return 0
