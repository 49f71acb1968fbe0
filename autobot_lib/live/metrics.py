"""Prometheus metrics of the bot, under the Donchian bot's names (its README, section Observability).

:class:`BotMetrics` owns its own ``CollectorRegistry`` (never the process-global one), so two bots, or a
bot and a test, never share or collide on a metric. Labels stay low-cardinality: a symbol outside the
configured universe and an unknown reason are counted as ``other``. Series with known label values start
at 0, so ``increase(...)`` in an alert rule sees the first error too.

Who records what: the executor counts every closed trade (``trade_closed``; a trade whose R is unknown
counts, and is left out of the R average only), each take-profit order placed, the single target and each
ladder level (``tp_order_placed``), and each one the exchange filled (``tp_filled``); the engine counts
refusals (``order_error``: Binance's code goes through the one table, :func:`autobot_lib.exchange.errors.
reason_for`); the emergency-flatten policy calls ``flatten_failed`` and ``flatten_partial``, whose reasons
are a closed set (a reason outside it is a programming error and raises).

>>> m = BotMetrics(account="main", universe=["BTCUSDT"], timeframe="1h")
>>> m.signal_emitted("BTCUSDT"); m.order_error("nonce"); m.order_error("-2019")
>>> b'bot_signal_emitted_total{symbol="BTCUSDT",timeframe="1h"} 1.0' in m.exposition()
True
>>> m.registry.get_sample_value("bot_order_errors_total", {"account": "main", "reason": "order"})
1.0
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

from autobot_lib.exchange.errors import ERROR_REASONS, reason_for, reason_of
from autobot_lib.exchange.ports import BrokerError, ErrorPolicy

DEFAULT_PORT = 9108
ORDER_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)  # seconds, the seed's buckets
ORDER_ERROR_REASONS = ERROR_REASONS + ("time_drift",)
FLATTEN_FAILURE_REASONS = ("order_error", "missing_handler", "no_response")
FLATTEN_PARTIAL_REASONS = ("not_profitable", "no_response")
TP_FILL_REASONS = ("take_profit", "tp_ladder")
ORDER_KINDS = ("entry", "add", "exit", "partial_exit", "stop")
SIDES = ("long", "short")
OTHER = "other"
AVG_R_EXITS = 30  # bot_avg_r_atr_30: the mean R of the last 30 exits

# name -> label names: every metric the seed's Observability section names, plus the loop latency it
# describes without naming
METRIC_LABELS = {
    "bot_equity": ("account",),
    "bot_daily_drawdown": ("account",),
    "bot_avg_r_atr_30": ("account",),
    "bot_signal_emitted_total": ("symbol", "timeframe"),
    "bot_trade_count_total": ("account",),
    "bot_order_errors_total": ("account", "reason"),
    "bot_time_drift_ms": ("source",),
    "bot_heartbeat_ts": (),
    "flatten_failures_total": ("account", "reason"),
    "flatten_partial_total": ("account", "reason"),
    "tp_orders_placed_total": ("account", "symbol", "side"),
    "tp_fills_total": ("account", "symbol", "side", "reason"),
    "order_latency_seconds": ("account", "kind"),
    "bot_loop_latency_seconds": (),
}


def _symbol_label(symbol: str) -> str:
    return symbol.upper().replace("/", "").split(":")[0]


def _bounded(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} reason {value!r} is not one of {', '.join(allowed)}")
    return value


def _error_reason(reason: str | int | BrokerError) -> str:
    """A failure as its reason (see :meth:`BotMetrics.order_error`)."""
    if isinstance(reason, BrokerError):
        return reason_of(reason)
    if isinstance(reason, int) or reason.lstrip("-").isdigit():
        return reason_for(int(reason))
    if reason in tuple(ErrorPolicy):
        return reason_for(None, policy=reason)
    return reason


class BotMetrics:
    def __init__(self, account: str = "default", universe: Iterable[str] = (), timeframe: str = "1h",
                 registry: CollectorRegistry | None = None):
        self.account = account
        self.timeframe = timeframe
        self.universe = tuple(_symbol_label(s) for s in universe)
        self.registry = registry or CollectorRegistry()
        self._last_r: deque[float] = deque(maxlen=AVG_R_EXITS)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        r, L = self.registry, METRIC_LABELS
        self.equity = Gauge("bot_equity", "Live equity in quote currency", L["bot_equity"], registry=r)
        self.daily_drawdown = Gauge("bot_daily_drawdown", "Drawdown from the UTC-midnight anchor (0..1)",
                                    L["bot_daily_drawdown"], registry=r)
        self.avg_r_atr_30 = Gauge("bot_avg_r_atr_30", "Mean ATR-based R of the last 30 exits",
                                  L["bot_avg_r_atr_30"], registry=r)
        self.signals = Counter("bot_signal_emitted_total", "Signals emitted", L["bot_signal_emitted_total"],
                               registry=r)
        self.trades = Counter("bot_trade_count_total", "Closed trades", L["bot_trade_count_total"], registry=r)
        self.order_errors = Counter("bot_order_errors_total", "Order failures by reason (auth, nonce, ...)",
                                    L["bot_order_errors_total"], registry=r)
        self.time_drift_ms = Gauge("bot_time_drift_ms", "Local clock minus the source's clock, ms",
                                   L["bot_time_drift_ms"], registry=r)
        self.heartbeat_ts = Gauge("bot_heartbeat_ts", "Last heartbeat, epoch seconds", registry=r)
        self.flatten_failures = Counter("flatten_failures_total", "Unsuccessful emergency flattens",
                                        L["flatten_failures_total"], registry=r)
        self.flatten_partials = Counter("flatten_partial_total", "Emergency flattens skipped or partial",
                                       L["flatten_partial_total"], registry=r)
        self.tp_orders_placed = Counter("tp_orders_placed_total", "Take-profit orders placed",
                                        L["tp_orders_placed_total"], registry=r)
        self.tp_fills = Counter("tp_fills_total", "Take-profit fills", L["tp_fills_total"], registry=r)
        self.order_latency = Histogram("order_latency_seconds", "Order round trip, seconds",
                                       L["order_latency_seconds"], buckets=ORDER_LATENCY_BUCKETS, registry=r)
        self.loop_latency = Histogram("bot_loop_latency_seconds", "One pass of the trading loop, seconds",
                                      buckets=ORDER_LATENCY_BUCKETS, registry=r)
        self._start_series_at_zero()

    def _start_series_at_zero(self) -> None:
        a = self.account
        for metric in (self.equity, self.daily_drawdown, self.avg_r_atr_30, self.trades):
            metric.labels(a)
        for reason in ORDER_ERROR_REASONS + (OTHER,):
            self.order_errors.labels(a, reason)
        for reason in FLATTEN_FAILURE_REASONS:
            self.flatten_failures.labels(a, reason)
        for reason in FLATTEN_PARTIAL_REASONS:
            self.flatten_partials.labels(a, reason)
        for kind in ORDER_KINDS:
            self.order_latency.labels(a, kind)
        self.time_drift_ms.labels("exchange")
        for symbol in self.universe:
            self.signals.labels(symbol, self.timeframe)
            for side in SIDES:
                self.tp_orders_placed.labels(a, symbol, side)
                for reason in TP_FILL_REASONS:
                    self.tp_fills.labels(a, symbol, side, reason)

    # --- recording, with this bot's account and label bounds -----------------------------------------------
    def _symbol(self, symbol: str) -> str:
        return _bounded(_symbol_label(symbol), self.universe)

    def set_equity(self, equity: float) -> None:
        self.equity.labels(self.account).set(equity)

    def set_daily_drawdown(self, ratio: float) -> None:
        self.daily_drawdown.labels(self.account).set(ratio)

    def signal_emitted(self, symbol: str, timeframe: str | None = None) -> None:
        self.signals.labels(self._symbol(symbol), timeframe or self.timeframe).inc()

    def trade_closed(self, r_multiple: float | None) -> None:
        """Count a closed trade, every one; its R joins the mean R of the last 30 exits unless it is unknown
        (NaN or None: an exit the exchange's books did not show)."""
        self.trades.labels(self.account).inc()
        if r_multiple is None or math.isnan(r_multiple):
            return
        self._last_r.append(r_multiple)
        self.avg_r_atr_30.labels(self.account).set(sum(self._last_r) / len(self._last_r))

    def order_error(self, reason: str | int | BrokerError) -> None:
        """Count a failure under its reason: a reason's name, a :class:`BrokerError`, a Binance code (or its
        text, e.g. ``"-2019"``) or, for a failure without a code, its policy's name (``"retry"``), each
        through the one table (:func:`autobot_lib.exchange.errors.reason_for`)."""
        self.order_errors.labels(self.account, _bounded(_error_reason(reason), ORDER_ERROR_REASONS)).inc()

    def set_time_drift_ms(self, drift_ms: float, source: str = "exchange") -> None:
        self.time_drift_ms.labels(source).set(drift_ms)

    def heartbeat(self, epoch_seconds: float) -> None:
        self.heartbeat_ts.set(epoch_seconds)

    def flatten_failed(self, reason: str) -> None:
        """An emergency flatten that failed: ``order_error`` (the close was refused), ``missing_handler``
        (nothing to send it with), ``no_response`` (the exchange never answered). Any other reason raises."""
        self.flatten_failures.labels(self.account, _one_of(reason, FLATTEN_FAILURE_REASONS, "flatten failure")).inc()

    def flatten_partial(self, reason: str) -> None:
        """An emergency flatten skipped or done in part: ``not_profitable``, ``no_response``. Any other
        reason raises."""
        self.flatten_partials.labels(self.account, _one_of(reason, FLATTEN_PARTIAL_REASONS, "partial flatten")).inc()

    def tp_order_placed(self, symbol: str, side: str) -> None:
        self.tp_orders_placed.labels(self.account, self._symbol(symbol), _bounded(side.lower(), SIDES)).inc()

    def tp_filled(self, symbol: str, side: str, reason: str = "take_profit") -> None:
        self.tp_fills.labels(self.account, self._symbol(symbol), _bounded(side.lower(), SIDES),
                             _bounded(reason, TP_FILL_REASONS)).inc()

    def order_latency_observed(self, kind: str, seconds: float) -> None:
        self.order_latency.labels(self.account, _bounded(kind.lower(), ORDER_KINDS)).observe(seconds)

    def loop_latency_observed(self, seconds: float) -> None:
        self.loop_latency.observe(seconds)

    # --- exposition -----------------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The /metrics page as bytes (Prometheus text format)."""
        return generate_latest(self.registry)

    def serve(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> int:
        """Serve /metrics on a background thread; returns the port (useful with ``port=0``)."""
        if self._server is not None:
            raise RuntimeError(f"metrics already served on port {self._server.server_address[1]}")
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = self._thread = None
