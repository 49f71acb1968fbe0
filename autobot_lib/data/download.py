"""Download candles and funding rates from Binance's public endpoints with ccxt, into a local cache.

- Public endpoints only: no API key is used or needed.
- Paginated from a start date (1000 bars a request, ccxt's cap), through ccxt's own
  rate limiter; 429/418 answers back off (``Retry-After`` when given) and retry.
- The cache (one parquet file per market, symbol and timeframe) is rewritten atomically after every
  page, so an interrupted download leaves a valid cache and the next call resumes where it stopped.
- Only closed bars are kept: the bar still forming at the exchange's clock is dropped.
- Unreachable exchange: the first request fails at once with :class:`DataDownloadError`, which says
  what to do instead.
``base_url`` points the real ccxt client at another host, e.g. the local venue on 127.0.0.1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import ccxt
import pandas as pd
from tqdm.auto import tqdm

from autobot_lib.data.frame import FUNDING_COLUMN, OHLCV_COLUMNS, split_symbol, timeframe_seconds, to_utc
from autobot_lib.data.io import load_funding, load_ohlcv, save_frame

Market = Literal["usdm", "spot"]
_PAGE = 1000  # ccxt caps Binance klines at 1000 a request (USD-M would allow 1500)
_FUNDING_PAGE = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """How a page request is retried after a rate limit (429/418), a timeout or a 5xx."""

    attempts: int = 5
    first_delay_s: float = 1.0   # doubled after each failure, unless the answer says Retry-After
    max_delay_s: float = 30.0


class DataDownloadError(RuntimeError):
    """A download could not complete; the cache keeps every page fetched before the failure."""


@dataclass(frozen=True)
class Download:
    """How :func:`fetch_ohlcv` and :func:`fetch_funding` download, given to them as keywords: the cache
    folder, another Binance-compatible host (``base_url``) or a ccxt client to use (``exchange``), the
    progress bar, and the retries of a failed page request."""

    cache_dir: str | Path = "data/cache"
    base_url: str | None = None
    exchange: ccxt.Exchange | None = None
    progress: bool = True
    retry: RetryPolicy = RetryPolicy()

    def client(self, market: Market) -> ccxt.Exchange:
        return self.exchange or make_exchange(market, self.base_url)


def make_exchange(market: Market = "usdm", base_url: str | None = None, timeout_ms: int = 10_000) -> ccxt.Exchange:
    """A public-data ccxt client for Binance USD-M (``binanceusdm``) or spot (``binance``)."""
    if market not in ("usdm", "spot"):
        raise ValueError(f"market must be 'usdm' or 'spot', got {market!r}")
    options = {"fetchCurrencies": False}  # the currencies endpoint is private (sapi) and not needed
    if market == "spot":
        options["fetchMarkets"] = {"types": ["spot"]}
    exchange = (ccxt.binanceusdm if market == "usdm" else ccxt.binance)(
        {"enableRateLimit": True, "timeout": timeout_ms, "options": options})
    if base_url:
        from autobot_lib.exchange.venue.client import point_at   # one way to aim ccxt elsewhere

        point_at(exchange, base_url)
    return exchange


def ccxt_symbol(symbol: str, market: Market) -> str:
    """``BTCUSDT`` -> ``BTC/USDT:USDT`` (USD-M) or ``BTC/USDT`` (spot); ccxt symbols pass through."""
    if "/" in symbol:
        base_quote = symbol.split(":")[0]
    else:
        base, quote = split_symbol(symbol.upper())
        base_quote = f"{base}/{quote}"
    return f"{base_quote}:{base_quote.split('/')[1]}" if market == "usdm" else base_quote


def exchange_id(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``BTCUSDT`` (the name used in cache files)."""
    return symbol.split(":")[0].replace("/", "").upper()


def cache_path(cache_dir: str | Path, market: Market, symbol: str, timeframe: str) -> Path:
    return Path(cache_dir) / f"binance_{market}_{exchange_id(symbol)}_{timeframe}.parquet"


def _ms(when: str | pd.Timestamp | int | None) -> int | None:
    if when is None:
        return None
    if isinstance(when, int):
        return when
    return int(to_utc(when).value // 10**6)


def _call(exchange: ccxt.Exchange, fn: Callable, what: str, first: bool, retry: RetryPolicy = RetryPolicy()):
    """Run one request. The first request of a download is the reachability probe: any network
    failure there fails at once. Later, rate limits back off (Retry-After when given) and network
    or exchange-side failures are retried a bounded number of times."""
    delay = retry.first_delay_s
    for attempt in range(1, retry.attempts + 1):
        try:
            return fn()
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
            error = exc
        except ccxt.NetworkError as exc:
            if first:
                raise DataDownloadError(
                    f"cannot reach the exchange for {what}: {type(exc).__name__}. No network? Use the cache "
                    "(autobot data show), a local venue (--base-url http://127.0.0.1:PORT) or the synthetic demo "
                    "market (autobot demo --offline)") from None
            error = exc
        except ccxt.BadSymbol as exc:
            raise DataDownloadError(f"{what}: the exchange does not list this symbol ({exc})") from None
        except ccxt.OperationFailed as exc:  # Binance -1000/-1001 and 5xx: its side failed, try again
            error = exc
        except ccxt.ExchangeError as exc:
            raise DataDownloadError(f"{what}: the exchange refused the request ({exc})") from None
        if attempt == retry.attempts:
            break
        retry_after = _retry_after(exchange.last_response_headers)
        time.sleep(retry_after if retry_after is not None else delay)
        delay = min(delay * 2, retry.max_delay_s)
    raise DataDownloadError(f"{what}: gave up after {retry.attempts} attempts ({type(error).__name__}); "
                            "pages already fetched are cached and the next run resumes from there")


def _retry_after(headers: dict | None) -> float | None:
    headers = headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None


def fetch_ohlcv(
    symbol: str,
    timeframe: str = "1h",
    since: str | pd.Timestamp | int | None = None,
    until: str | pd.Timestamp | int | None = None,
    *,
    last_bars: int | None = None,
    market: Market = "usdm",
    **download: Any,
) -> pd.DataFrame:
    """Closed bars of ``symbol`` from ``since`` (or the ``last_bars`` before the exchange's clock) to
    ``until`` (default: now), through the cache; ``download``: the fields of :class:`Download`.

    Resumes from the cache: only bars after the last cached one (and before the first, if ``since``
    is earlier) are requested. Returns the canonical frame for the requested period.
    """
    step_ms = timeframe_seconds(timeframe) * 1000
    options = Download(**download)
    exchange = options.client(market)
    sym = ccxt_symbol(symbol, market)
    path = cache_path(options.cache_dir, market, sym, timeframe)
    if (since is None) == (last_bars is None):
        raise ValueError("give either since= (a date) or last_bars= (a count of bars), not both or neither")
    now_ms = _call(exchange, exchange.fetch_time, f"{sym} server time", first=True)
    end_ms = min(_ms(until) or now_ms, now_ms)
    start_ms = _ms(since) if since is not None else (end_ms // step_ms - int(last_bars)) * step_ms
    cached = load_ohlcv(path, timeframe, gaps="ignore") if path.exists() else None

    ranges = []
    if cached is None or not len(cached):
        ranges.append((start_ms, end_ms))
    else:
        first_ms = int(cached.index[0].value // 10**6)
        last_ms = int(cached.index[-1].value // 10**6)
        if start_ms < first_ms:
            ranges.append((start_ms, first_ms))
        ranges.append((max(start_ms, last_ms + step_ms), end_ms))
    total = sum(max(0, (b - a) // step_ms) for a, b in ranges)

    with tqdm(total=total, unit="bar", desc=f"{exchange_id(sym)} {timeframe}", disable=not options.progress,
              leave=False) as bar:
        for lo, hi in ranges:
            cursor = lo
            while cursor < hi:
                rows = _call(exchange, lambda cursor=cursor, hi=hi: exchange.fetch_ohlcv(
                                 sym, timeframe, since=cursor, limit=_PAGE, params={"until": hi - 1}),
                             f"{sym} {timeframe} bars from {pd.Timestamp(cursor, unit='ms')}", False,
                             options.retry)
                closed = [r for r in rows if r[0] >= cursor and r[0] + step_ms <= now_ms and r[0] < hi]
                if not closed:
                    break
                page = _ohlcv_frame(closed)
                cached = page if cached is None else _merge(cached, page)
                save_frame(cached, path)
                bar.update(len(closed))
                cursor = int(closed[-1][0]) + step_ms

    if cached is None or not len(cached):
        raise DataDownloadError(f"no {sym} {timeframe} bars between {pd.Timestamp(start_ms, unit='ms')} and "
                                f"{pd.Timestamp(end_ms, unit='ms')}: check the dates and the listing date")
    frame = cached.loc[pd.Timestamp(start_ms, unit="ms", tz="UTC"):pd.Timestamp(end_ms - 1, unit="ms", tz="UTC")]
    frame.attrs.update({"symbol": exchange_id(sym), "timeframe": timeframe, "market": market,
                        "source": f"binance {market} via ccxt (cache {path})", "synthetic": False})
    return frame


def _ohlcv_frame(rows: list[list]) -> pd.DataFrame:
    frame = pd.DataFrame([r[:6] for r in rows], columns=["timestamp", *OHLCV_COLUMNS])
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True).dt.as_unit("ns"),
                                   name="timestamp")
    return frame.astype("float64")


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    merged = pd.concat([old, new])
    merged = merged[~merged.index.duplicated(keep="last")].sort_index()
    merged.attrs = {}
    return merged


def fetch_funding(
    symbol: str,
    since: str | pd.Timestamp | int = "2024-01-01",
    until: str | pd.Timestamp | int | None = None,
    **download: Any,
) -> pd.DataFrame:
    """Funding-rate history of a USD-M perpetual (one row per funding event), through the cache;
    ``download``: the fields of :class:`Download`."""
    options = Download(**download)
    exchange = options.client("usdm")
    sym = ccxt_symbol(symbol, "usdm")
    path = Path(options.cache_dir) / f"binance_usdm_{exchange_id(sym)}_funding.parquet"
    start_ms = _ms(since)
    now_ms = _call(exchange, exchange.fetch_time, f"{sym} server time", first=True)
    end_ms = min(_ms(until) or now_ms, now_ms)
    cached = load_funding(path) if path.exists() else None
    cursor = start_ms if cached is None or not len(cached) else max(start_ms, int(cached.index[-1].value // 10**6) + 1)
    with tqdm(unit="event", desc=f"{exchange_id(sym)} funding", disable=not options.progress, leave=False) as bar:
        while cursor < end_ms:
            rows = _call(exchange, lambda cursor=cursor: exchange.fetch_funding_rate_history(
                             sym, since=cursor, limit=_FUNDING_PAGE, params={"endTime": end_ms - 1}),
                         f"{sym} funding from {pd.Timestamp(cursor, unit='ms')}", False, options.retry)
            rows = [r for r in rows if r["timestamp"] is not None and cursor <= r["timestamp"] < end_ms]
            if not rows:
                break
            page = pd.DataFrame({FUNDING_COLUMN: [float(r["fundingRate"]) for r in rows]},
                                index=pd.DatetimeIndex(pd.to_datetime([r["timestamp"] for r in rows], unit="ms",
                                                                      utc=True).as_unit("ns"), name="timestamp"))
            cached = page if cached is None else _merge(cached, page)
            save_frame(cached, path)
            bar.update(len(rows))
            cursor = int(rows[-1]["timestamp"]) + 1
    if cached is None:
        cached = pd.DataFrame({FUNDING_COLUMN: pd.Series(dtype="float64")},
                              index=pd.DatetimeIndex([], tz="UTC", name="timestamp"))
    frame = cached.loc[pd.Timestamp(start_ms, unit="ms", tz="UTC"):pd.Timestamp(end_ms - 1, unit="ms", tz="UTC")]
    frame.attrs.update({"symbol": exchange_id(sym), "source": f"binance usdm via ccxt (cache {path})"})
    return frame
