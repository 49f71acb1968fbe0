"""What several commands share: the research and market arguments, and loading their data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def add_command(sub: argparse._SubParsersAction, name: str, summary: str, description: str,
                epilog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``autobot NAME``, for a command module's ``add_parser``: ``summary`` is its line in
    `autobot --help`; ``description`` opens `autobot NAME --help` and ``epilog`` closes it. argparse refills
    both (white space folded, wrapped to the terminal), so they are written as indented paragraphs."""
    return sub.add_parser(name, help=summary, description=description, epilog=epilog)


def add_research(p: argparse.ArgumentParser, out: str) -> None:
    p.add_argument("--symbols", nargs="+", required=True, help="e.g. BTCUSDT ETHUSDT (one shared account)")
    p.add_argument("--data", nargs="*", default=[], help="OHLCV files, matched to symbols by name (default: the cache)")
    p.add_argument("--funding", nargs="*", default=[], help="funding-rate files, matched by name")
    p.add_argument("--from", dest="start", help="first bar, a UTC date (default: the start of the data)")
    p.add_argument("--to", dest="end", help="last bar, a UTC date (default: the end of the data)")
    p.add_argument("-t", "--timeframe", default="1h", help="(default: %(default)s)")
    p.add_argument("-f", "--params", help="a params YAML (see params/default.yaml)")
    p.add_argument("--strategy", choices=["autobot", "donchian"], help="override STRATEGY")
    p.add_argument("--equity", type=float, default=10_000.0, help="(default: %(default)s)")
    p.add_argument("--taker-fee", type=float, help="override TAKER_FEE (default: the settings', 0.0005)")
    p.add_argument("--slippage-bps", type=float, help="override SLIPPAGE_BPS (default: the settings', 1.0)")
    p.add_argument("--out", default=out, help="report folder (default: %(default)s)")
    add_market(p)


def add_market(p: argparse.ArgumentParser) -> None:
    p.add_argument("--market", choices=["usdm", "spot"], default="usdm",
                   help="Binance USD-M perpetual futures (default) or spot")
    p.add_argument("--cache-dir", default="data/cache", help="where downloaded data is cached (default: %(default)s)")
    p.add_argument("--base-url", help="talk to another Binance-compatible host, e.g. the local venue "
                                      "http://127.0.0.1:PORT (default: Binance itself)")


def load_for_show(args: argparse.Namespace) -> pd.DataFrame:
    from autobot_lib.data import cache_path, load_ohlcv
    from autobot_lib.data.download import ccxt_symbol

    if Path(args.source).exists():
        return load_ohlcv(args.source, args.timeframe)
    path = cache_path(args.cache_dir, args.market, ccxt_symbol(args.source, args.market), args.timeframe or "1h")
    if not path.exists():
        raise FileNotFoundError(f"{args.source} is neither a file nor cached at {path}; "
                                f"fetch it first: autobot data fetch {args.source}")
    return load_ohlcv(path, args.timeframe)


def research_inputs(args: argparse.Namespace):
    """Settings, {symbol: bars} and {symbol: funding} from the shared research arguments."""
    from autobot_lib.config import load_settings
    from autobot_lib.data import describe_path, load_funding
    from autobot_lib.data.frame import to_utc

    overrides = {"STRATEGY": args.strategy, "TAKER_FEE": args.taker_fee, "SLIPPAGE_BPS": args.slippage_bps}
    settings = load_settings(args.params, **{k: v for k, v in overrides.items() if v is not None})
    files = {describe_path(p).get("symbol"): p for p in args.data}
    bars, funding = {}, {}
    for symbol in args.symbols:
        args.source = files.get(symbol.upper(), symbol)
        frame = load_for_show(args)
        start = to_utc(args.start) if args.start else frame.index[0]
        end = to_utc(args.end) if args.end else frame.index[-1]
        window = frame.loc[start:end]
        if not len(window):
            raise ValueError(f"no {symbol} bars between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
        window.attrs.update(frame.attrs)
        bars[symbol.upper()] = window
    for path in args.funding:
        symbol = describe_path(path).get("symbol")
        if symbol in bars:
            funding[symbol] = load_funding(path)
    return settings, bars, funding
