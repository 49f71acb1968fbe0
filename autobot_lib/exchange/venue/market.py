"""What the venue knows: per symbol, bars by timeframe, funding events and exchange filters.

Pure: given a request's parameters and the venue's clock (``now_ms``), it returns the rows Binance would.
A bar whose close time is after ``now_ms`` is still forming and is served as Binance serves it, as the
last kline, with the values traded so far: built from the finest bars the venue holds that have closed
(just the open price at a bar's first instant), never from the future.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from autobot_lib.data.frame import OHLCV_COLUMNS, split_symbol, timeframe_seconds
from autobot_lib.data.resample import resample_ohlcv

# Filters of the real USD-M contracts (exchangeInfo, 2025): tick size, step size, min qty, min notional.
_KNOWN_FILTERS = {
    "BTCUSDT": ("0.10", "0.001", "0.001", "100"),
    "ETHUSDT": ("0.01", "0.001", "0.001", "20"),
    "SOLUSDT": ("0.0100", "1", "1", "5"),
    "BNBUSDT": ("0.010", "0.01", "0.01", "5"),
}


@dataclass(frozen=True)
class SymbolSpec:
    """Exchange filters of one symbol, as strings exactly as Binance sends them."""

    symbol: str
    tick_size: str
    step_size: str
    min_qty: str
    min_notional: str

    @classmethod
    def for_symbol(cls, symbol: str, price: float) -> SymbolSpec:
        if symbol in _KNOWN_FILTERS:
            return cls(symbol, *_KNOWN_FILTERS[symbol])
        # about 5 significant digits of price, and a lot worth about 5 USDT at most
        tick = 10.0 ** (math.floor(math.log10(max(price, 1e-8))) - 4)
        step = 10.0 ** math.floor(math.log10(max(5.0 / max(price, 1e-8), 1e-8)))
        return cls(symbol, _num(tick), _num(step), _num(step), "5")


def _num(x: float) -> str:
    return np.format_float_positional(x, trim="-")


def _kline_row(t: int, step_ms: int, o: float, h: float, l: float, c: float, v: float) -> list:
    quote = v * (o + c) / 2.0
    return [t, repr(o), repr(h), repr(l), repr(c), repr(v), t + step_ms - 1, repr(quote), max(1, int(v)),
            repr(v / 2.0), repr(quote / 2.0), "0"]


def decimals(step: str) -> int:
    return len(step.rstrip("0").split(".")[1]) if "." in step.rstrip("0") else 0


@dataclass
class MarketBook:
    """Bars (canonical frames) and funding per symbol, for one market ("usdm" or "spot")."""

    market: str = "usdm"
    bars: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    funding: dict[str, pd.DataFrame] = field(default_factory=dict)
    now_ms: int | None = None  # the venue's clock; None = just after the last bar closed
    rate_limit_scale: float = 1.0  # multiplies the request limits exchangeInfo announces

    def add_bars(self, symbol: str, frame: pd.DataFrame, timeframe: str | None = None) -> None:
        self.bars[(symbol, timeframe or frame.attrs["timeframe"])] = frame

    def add_funding(self, symbol: str, frame: pd.DataFrame) -> None:
        self.funding[symbol] = frame

    @property
    def symbols(self) -> list[str]:
        return sorted({s for s, _ in self.bars})

    def clock_ms(self) -> int:
        if self.now_ms is not None:
            return self.now_ms
        ends = [int(f.index[-1].value // 10**6) + timeframe_seconds(tf) * 1000 for (s, tf), f in self.bars.items()
                if len(f)]
        return max(ends) if ends else 0

    def finest(self, symbol: str) -> tuple[str, pd.DataFrame]:
        """The finest timeframe held for a symbol, and its bars: what the replay steps and matches on."""
        held = [(timeframe_seconds(tf), tf) for s, tf in self.bars if s == symbol]
        if not held:
            raise KeyError(symbol)
        timeframe = min(held)[1]
        return timeframe, self.bars[(symbol, timeframe)]

    def specs(self) -> dict[str, SymbolSpec]:
        """Exchange filters of every symbol, priced from its last bar."""
        return {s: SymbolSpec.for_symbol(s, float(f["close"].iloc[-1]) if len(f) else 1.0)
                for s in self.symbols for f in [self.finest(s)[1]]}

    def last_price(self, symbol: str) -> float:
        """The close of the latest finest bar closed by the clock (the venue's last and mark price)."""
        timeframe, frame = self.finest(symbol)
        opens = frame.index.as_unit("ns").asi8 // 10**6
        i = int(np.searchsorted(opens, self.clock_ms() - timeframe_seconds(timeframe) * 1000, side="right")) - 1
        if i < 0:
            raise KeyError(f"{symbol}: no bar has closed by {pd.Timestamp(self.clock_ms(), unit='ms')}")
        return float(frame["close"].iloc[i])

    def next_open(self, symbol: str) -> float | None:
        """The open of the finest bar forming at the clock (the first trade after the last close), if any."""
        timeframe, frame = self.finest(symbol)
        opens = frame.index.as_unit("ns").asi8 // 10**6
        i = int(np.searchsorted(opens, self.clock_ms() - timeframe_seconds(timeframe) * 1000, side="right"))
        return float(frame["open"].iloc[i]) if i < len(frame) and opens[i] <= self.clock_ms() else None

    def frame(self, symbol: str, timeframe: str) -> pd.DataFrame:
        """Bars of a symbol at a timeframe, resampled from a finer one the venue holds if need be."""
        if (symbol, timeframe) in self.bars:
            return self.bars[(symbol, timeframe)]
        want = timeframe_seconds(timeframe)
        finer = [(timeframe_seconds(tf), tf) for s, tf in self.bars if s == symbol and want % timeframe_seconds(tf) == 0]
        if not finer:
            raise KeyError(symbol)
        source = self.bars[(symbol, max(finer)[1])]
        self.bars[(symbol, timeframe)] = resampled = resample_ohlcv(source, timeframe)
        return resampled

    def klines(self, symbol: str, timeframe: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[list]:
        frame = self.frame(symbol, timeframe)
        step_ms = timeframe_seconds(timeframe) * 1000
        opens = frame.index.as_unit("ns").asi8 // 10**6
        now = self.clock_ms()
        last_open = min(now, end_ms) if end_ms is not None else now
        hi = int(np.searchsorted(opens, last_open, side="right"))
        lo = int(np.searchsorted(opens, start_ms, side="left")) if start_ms is not None else max(0, hi - limit)
        hi = min(hi, lo + limit)
        values = frame[list(OHLCV_COLUMNS)].to_numpy()[lo:hi].tolist()
        times = opens[lo:hi].tolist()
        if times and times[-1] + step_ms > now:
            values[-1] = self._forming(symbol, times[-1], now)
        return [_kline_row(t, step_ms, *bar) for t, bar in zip(times, values)]

    def _forming(self, symbol: str, open_ms: int, now: int) -> list[float]:
        """OHLCV of a bar opened at ``open_ms`` as traded by ``now``, from the finest closed bars."""
        timeframe, fine = self.finest(symbol)
        fine_ms = timeframe_seconds(timeframe) * 1000
        opens = fine.index.as_unit("ns").asi8 // 10**6
        lo = int(np.searchsorted(opens, open_ms, side="left"))
        hi = int(np.searchsorted(opens, now - fine_ms, side="right"))
        part = fine[list(OHLCV_COLUMNS)].to_numpy()[lo:max(lo, hi)]
        if len(part):
            return [float(x) for x in (part[0, 0], part[:, 1].max(), part[:, 2].min(), part[-1, 3], part[:, 4].sum())]
        first = float(fine["open"].to_numpy()[min(lo, len(fine) - 1)])
        return [first, first, first, first, 0.0]

    def ticker_24h(self, symbol: str) -> dict:
        """``GET /fapi/v1/ticker/24hr`` for one symbol: the last 24 h of closed finest bars."""
        now = self.clock_ms()
        timeframe, fine = self.finest(symbol)
        fine_ms = timeframe_seconds(timeframe) * 1000
        opens = fine.index.as_unit("ns").asi8 // 10**6
        lo = int(np.searchsorted(opens, now - 86_400_000, side="left"))
        hi = int(np.searchsorted(opens, now - fine_ms, side="right"))
        part = fine[list(OHLCV_COLUMNS)].to_numpy()[lo:max(lo + 1, hi)]
        o, last = float(part[0, 0]), float(part[-1, 3])
        volume = float(part[:, 4].sum())
        quote = float((part[:, 4] * (part[:, 0] + part[:, 3]) / 2.0).sum())
        return {"symbol": symbol, "priceChange": repr(last - o), "priceChangePercent": f"{(last / o - 1) * 100:.3f}",
                "weightedAvgPrice": repr(quote / volume if volume else last), "lastPrice": repr(last),
                "lastQty": "0.001", "openPrice": repr(o), "highPrice": repr(float(part[:, 1].max())),
                "lowPrice": repr(float(part[:, 2].min())), "volume": repr(volume), "quoteVolume": repr(quote),
                "openTime": now - 86_400_000, "closeTime": now - 1, "firstId": 1, "lastId": max(1, int(volume)),
                "count": max(1, int(volume))}

    def premium_index(self, symbol: str) -> dict:
        """``GET /fapi/v1/premiumIndex``: mark = index = last price; the last funding rate settled."""
        now = self.clock_ms()
        price = repr(self.last_price(symbol))
        rate = 0.0001
        frame = self.funding.get(symbol)
        if frame is not None and len(frame):
            times = frame.index.as_unit("ns").asi8 // 10**6
            i = int(np.searchsorted(times, now, side="right")) - 1
            rate = float(frame["funding_rate"].iloc[max(i, 0)])
        eight_hours = 8 * 3_600_000
        return {"symbol": symbol, "markPrice": price, "indexPrice": price, "estimatedSettlePrice": price,
                "lastFundingRate": f"{rate:.8f}", "interestRate": "0.00010000",
                "nextFundingTime": (now // eight_hours + 1) * eight_hours, "time": now}

    def funding_between(self, symbol: str, after_ms: int, until_ms: int) -> list[tuple[int, float]]:
        """Funding events with ``after_ms < time <= until_ms``: (time, rate)."""
        frame = self.funding.get(symbol)
        if frame is None:
            return []
        times = frame.index.as_unit("ns").asi8 // 10**6
        lo, hi = np.searchsorted(times, after_ms, side="right"), np.searchsorted(times, until_ms, side="right")
        return list(zip(times[lo:hi].tolist(), frame["funding_rate"].to_numpy()[lo:hi].tolist()))

    def funding_rates(self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[dict]:
        frame = self.funding.get(symbol)
        if frame is None:
            return []
        times = frame.index.as_unit("ns").asi8 // 10**6
        end = min(self.clock_ms(), end_ms) if end_ms is not None else self.clock_ms()
        hi = int(np.searchsorted(times, end, side="right"))
        lo = int(np.searchsorted(times, start_ms, side="left")) if start_ms is not None else max(0, hi - limit)
        hi = min(hi, lo + limit)
        rates = frame["funding_rate"].to_numpy()[lo:hi]
        return [{"symbol": symbol, "fundingTime": t, "fundingRate": f"{r:.8f}", "markPrice": ""}
                for t, r in zip(times[lo:hi].tolist(), rates.tolist())]

    def exchange_info(self) -> dict:
        symbols = [self._symbol_info(spec) for spec in self.specs().values()]
        return {
            "timezone": "UTC",
            "serverTime": self.clock_ms(),
            # Binance's, times rate_limit_scale: a replay that packs hours into seconds lets clients that
            # follow these limits keep up
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": int(2400 * self.rate_limit_scale)},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
                 "limit": int(1200 * self.rate_limit_scale)},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": int(300 * self.rate_limit_scale)},
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _symbol_info(self, spec: SymbolSpec) -> dict:
        base, quote = split_symbol(spec.symbol)
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": spec.tick_size, "maxPrice": "10000000", "tickSize": spec.tick_size},
            {"filterType": "LOT_SIZE", "minQty": spec.min_qty, "maxQty": "100000", "stepSize": spec.step_size},
            {"filterType": "MARKET_LOT_SIZE", "minQty": spec.min_qty, "maxQty": "10000", "stepSize": spec.step_size},
        ]
        info = {"symbol": spec.symbol, "status": "TRADING", "baseAsset": base, "quoteAsset": quote,
                "baseAssetPrecision": 8, "quotePrecision": 8, "filters": filters}
        if self.market == "usdm":
            filters += [{"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                        {"filterType": "MIN_NOTIONAL", "notional": spec.min_notional},
                        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                         "multiplierDecimal": "4"}]
            info.update({"pair": spec.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
                         "onboardDate": 1569398400000, "marginAsset": quote, "underlyingType": "COIN",
                         "pricePrecision": decimals(spec.tick_size), "quantityPrecision": decimals(spec.step_size),
                         "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
                         "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                        "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                         "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]})
        else:
            filters.append({"filterType": "NOTIONAL", "minNotional": spec.min_notional, "applyMinToMarket": True,
                            "maxNotional": "9000000", "applyMaxToMarket": False, "avgPriceMins": 5})
            info.update({"quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"],
                         "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "permissions": ["SPOT"],
                         "permissionSets": [["SPOT"]]})
        return info
