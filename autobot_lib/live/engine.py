"""The live engine: per closed bar and symbol, the one decision path, then execution through a broker.

On bars that close together: the account as it stands at the close (equity at the mark, the daily
anchor, the trading state: the daily loss limit halts, as in the backtester), then every symbol's
:func:`autobot_lib.pipeline.decide` exactly as the backtester calls it: the symbols holding a position
first (each with the position held into the bar), then the flat ones, which see the positions left
after the bar's fills plus the entries already decided on this bar (MAX_POSITIONS, the correlation
veto), and the free margin the orders decided before them leave. The decisions are written ahead to the
store; then the :class:`~autobot_lib.live.execution.Executor` makes the exchange follow them, all
symbols at once.

The engine is the bar loop; its parts have one job each: the executor of intents, the
:class:`~autobot_lib.live.reconcile.Reconciler` (at start and every POSITION_CHECK_INTERVAL; the
exchange is the truth), the :class:`~autobot_lib.live.keeper.StateKeeper` (anchors, snapshot, store),
the kill switch's :class:`~autobot_lib.live.guard.Guard` with its
:class:`~autobot_lib.live.emergency.EmergencyPolicy` (tripped, the trading state is HALTED: every entry is
vetoed, and the policy says what happens to the open positions), and a
read-only :class:`~autobot_lib.live.status.EngineStatus` (``engine.status``) for everyone who watches.

By hand (through :mod:`autobot_lib.live.control`): ``engine.manual``
(:class:`~autobot_lib.live.manual.ManualCommands`): pause, resume, halt, rearm, close, flatten and new
settings; they take the engine's lock, so they never land inside a bar.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import Any, Callable

import pandas as pd

from autobot_lib.config import Settings
from autobot_lib.exchange.ports import Broker, BrokerError
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.journal import JournalRecord, record as journal_record
from autobot_lib.live.emergency import EmergencyPolicy
from autobot_lib.live.execution import Executor, Held
from autobot_lib.live.features import LiveFeatures, aligned_closes
from autobot_lib.live.guard import Guard
from autobot_lib.live.keeper import StateKeeper
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.live.manual import ManualCommands
from autobot_lib.live.orders import OrderManager
from autobot_lib.live.reconcile import Reconciler
from autobot_lib.live.safety import KillSwitch
from autobot_lib.live.status import EngineStatus
from autobot_lib.model import Account, Bar, ExitReason, IntentKind, MarketFilters, Position, TradingState
from autobot_lib.pipeline import Decision, decide
from autobot_lib.plan import Plan, compile_plan
from autobot_lib.risk import kernel
from autobot_lib.risk.vetoes import correlations_with
from autobot_lib.rules.rule import RuleSet

log = logging.getLogger("autobot.live")
_MARGIN_MODE_LOCKED = (-4047, -4048)   # margin type cannot change with open orders / with a position


class LiveEngine:
    def __init__(self, settings: Settings, broker: Broker, symbols: list[str], *, plan: Plan | None = None,
                 rules: RuleSet | None = None, bar_length: pd.Timedelta = pd.Timedelta("1h"),
                 limiter: RateLimiter | None = None, store: Any = None,
                 alert: Callable[[str, str], Any] | None = None, metrics: Any = None,
                 clock: Callable[[], float] = time.time):
        """``settings`` for operations; ``plan`` for the decisions (compiled from ``settings`` and ``rules``)."""
        self.settings, self.broker, self.symbols = settings, broker, list(symbols)
        self.plan = plan or compile_plan(settings, rules)
        self.params = self.plan.risk
        self.features = {s: LiveFeatures(self.plan, bar_length) for s in self.symbols}
        self.bar_length = bar_length
        self.limiter = limiter or getattr(broker, "limiter", None) or RateLimiter()   # one count per account
        self.filters: dict[str, MarketFilters] = {}
        self.orders: OrderManager | None = None
        self.executor: Executor | None = None
        self._restored: dict[str, Held] = {}
        # recent history for the notebook and the summary; the full journal lives in the store
        self.journal: deque[JournalRecord] = deque(maxlen=10_000)
        self.equity: deque[tuple[pd.Timestamp, float]] = deque(maxlen=10_000)   # at each decided close
        self.alerts: deque[tuple[str, str]] = deque(maxlen=1_000)
        self.alert_listeners: list[Callable[[str, str], Any]] = [alert] if alert is not None else []
        self.trade_listeners: list[Callable[[LiveTrade], Any]] = []   # each closed trade, once
        self.clock, self.metrics = clock, metrics     # metrics: a BotMetrics, or None
        self.decision_seconds: deque[float] = deque(maxlen=100_000)
        self.busy = asyncio.Lock()                # a bar, a reconciliation and a manual command never interleave
        limits = self.plan.safety
        self.kill = KillSwitch(limits.max_errors, limits.error_window_s, limits.max_drift_ms, limits.daily_loss_limit)
        self.guard = Guard(self.kill, EmergencyPolicy(settings.donchian.emergency_policy,
                                                      settings.donchian.emergency_min_pnl_to_close_pct),
                           self.alert, clock, lock=self.busy, respond=self._emergency, metrics=metrics)
        self.keeper = StateKeeper(self.kill, store, self.alert, clock)
        self.manual = ManualCommands(self)
        self.status = EngineStatus(self)

    @property
    def held(self) -> dict[str, Held]:
        return self.executor.held if self.executor is not None else self._restored

    @property
    def trades(self) -> deque[LiveTrade]:
        return self.executor.trades if self.executor is not None else deque()

    @property
    def trading_state(self) -> TradingState:
        """HALTED when the kill switch is tripped, REDUCING when paused, else ACTIVE."""
        return self.kill.state if self.kill.tripped else TradingState.REDUCING if self.manual.paused_by else \
            TradingState.ACTIVE

    # --- set-up --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Markets, leverage and margin type, the saved state (SAFE_RESTART), then reconciliation."""
        if self.keeper.store is not None and self.settings.SAFE_RESTART:
            self.restore(self.keeper.store.load())
        self.filters = await self.broker.markets(self.symbols)
        self.orders = OrderManager(self.broker, self.filters, self.limiter)
        self.executor = Executor(self.broker, self.orders, self.filters, self.params, self.alert,
                                 self.guard.report_error, self.metrics, int(self.bar_length.total_seconds() * 1000),
                                 self._trade_closed)
        self.executor.held.update(self._restored)
        for symbol in self.symbols:
            await self.configure(symbol, self.params.leverage)
        balance = await self.broker.balance()
        self.keeper.peak = max(self.keeper.peak, float(balance.equity))
        await self.reconcile()

    async def configure(self, symbol: str, leverage: int) -> None:
        """Leverage and isolated margin. A position or orders already open in another margin mode keep it:
        the position is adopted as it stands (reconciliation protects it), with an alert."""
        try:
            await self.broker.configure(symbol, leverage, isolated=True)
        except BrokerError as exc:
            if exc.code not in _MARGIN_MODE_LOCKED:
                raise
            self.alert("margin_mode", f"{symbol}: margin type left as it is ({exc}); what is open there is adopted "
                                      "as it stands")

    def restore(self, state) -> None:
        """Positions, anchors, peak, kill switch and last bars from a snapshot; the exchange is checked next."""
        self._restored = self.keeper.restore(state)
        if self.executor is not None:
            self.executor.held.update(self._restored)

    def save(self, records: list[JournalRecord] = ()) -> None:
        self.keeper.save(self.held, records)

    def alert(self, key: str, text: str) -> None:
        self.alerts.append((key, text))
        log.warning(text, extra={"alert": key})
        for listener in self.alert_listeners:
            listener(key, text)

    def _trade_closed(self, trade: LiveTrade) -> None:
        for listener in self.trade_listeners:
            try:
                listener(trade)
            except Exception as exc:     # a full disk or a down store never loses the bar: an alert
                log.exception("trade listener failed")
                self.alert("trade_record_failed", f"{trade.symbol}: the closed trade was not recorded by "
                                                  f"{getattr(listener, '__qualname__', listener)} ({exc!r})")

    # --- the bar ---------------------------------------------------------------------------------
    async def on_bar(self, symbol: str, bar: Bar) -> Decision:
        """A closed bar (``bar.timestamp`` is its open time)."""
        return (await self.on_bars([(symbol, bar)]))[0]

    async def on_bars(self, bars: list[tuple[str, Bar]]) -> list[Decision]:
        async with self.busy:
            decisions = await self._on_bars(bars)
            await self.guard.settle()
            return decisions

    async def _on_bars(self, bars: list[tuple[str, Bar]]) -> list[Decision]:
        """Bars that closed together: every decision first, on the account as it stands at the close (as the
        backtester decides them), each written ahead to the store; then all their orders at once, so the
        hundredth symbol's entry does not wait for the first ninety-nine."""
        bar_ms = int(min(b.timestamp for _, b in bars).value // 1_000_000)
        account = await self.account(bar_ms)
        self.equity.append((pd.Timestamp(bar_ms, unit="ms", tz="UTC") + self.bar_length, account.equity))
        held = self.executor.held
        ordered = sorted(bars, key=lambda item: (item[0] not in held, item[0]))   # positions first
        remaining = {s: h.position for s, h in held.items()}
        available = account.available        # what the orders decided on this bar leave to the next ones
        costs = kernel.kernel_params(self.params)
        decided = []
        for symbol, bar in ordered:
            started = time.perf_counter()
            features = self.features[symbol]
            features.update(bar)
            signal = features.signal()
            others = [s for s in remaining if s != symbol]
            correlations = None if symbol in held or signal.proposal.side is None or not others else \
                correlations_with(symbol, aligned_closes(self.features, [symbol, *others], bar.timestamp,
                                                         self.bar_length, self.params.correlation_window), others)
            ctx = features.context(self.filters.get(symbol, MarketFilters()), correlations,
                                   exit_channel=self.params.exit_channel)
            here = Account(account.equity, available, account.peak_equity, account.daily_anchor,
                           account.state, tuple(remaining.values()))
            decision = decide(symbol, ctx, signal, here, self.params, features.strategy.name)
            if symbol in held:
                held[symbol].observe(bar, decision.step)
            if decision.step is not None and decision.step.position is None:
                remaining.pop(symbol, None)          # closed inside the bar
            for intent in decision.intents:
                if intent.kind in (IntentKind.ENTRY, IntentKind.ADD):
                    available -= kernel.order_cost(float(intent.qty) * intent.price, costs)
                if intent.kind is IntentKind.ENTRY:  # counts toward MAX_POSITIONS for the symbols after it
                    remaining[symbol] = Position(symbol, intent.side, float(intent.qty), intent.price,
                                                 float(intent.stop_price), None, 0.0, ctx.atr, ctx.decided_at,
                                                 float(intent.qty))
            self.decision_seconds.append(time.perf_counter() - started)
            decided.append((symbol, bar, ctx, decision))
        decided.sort(key=lambda item: item[0])
        self.journal.extend(d.record for *_, d in decided)
        self.save([d.record for *_, d in decided])   # write-ahead: decisions on disk before any order goes
        # what the exchange holds at the close, read once for every position managed this bar
        holding = await self.broker.positions() if any(d.step for *_, d in decided) else {}
        await asyncio.gather(*(self._execute_safely(symbol, int(bar.timestamp.value // 1_000_000), ctx, decision,
                                                    holding) for symbol, bar, ctx, decision in decided))
        for symbol, bar, _, decision in decided:
            self.keeper.last_bar[symbol] = bar.timestamp
            _meter(self.metrics, symbol, decision, account, self.orders, self.decision_seconds[-1], self.clock())
        self.save()
        outcomes = Counter(d.record.outcome.split(":")[0] for *_, d in decided)
        log.info("bar %s closed: %d symbols decided", bars[0][1].timestamp.isoformat(), len(decided),
                 extra={"outcomes": dict(outcomes), "positions": len(held), "equity": round(account.equity, 2),
                        "state": account.state.value})
        return [d for *_, d in decided]

    async def _execute_safely(self, symbol: str, bar_ms: int, ctx, decision: Decision, holding: dict) -> None:
        """The executor's work for one symbol; a refusal is this symbol's alert, never the others' stop."""
        try:
            for intent in decision.intents:
                if intent.kind is IntentKind.ENTRY:
                    await self.executor.enter(intent, bar_ms, ctx.atr, ctx.regime)
            if decision.step is not None and symbol in self.executor.held:
                await self.executor.follow(symbol, bar_ms, decision, holding.get(symbol))
        except BrokerError as exc:
            self.guard.report_error(symbol, exc)

    async def account(self, bar_ms: int) -> Account:
        """The account at the close of the bar opened at ``bar_ms``: the daily anchor is the equity at the
        first close of a UTC day; the daily loss limit halts (the trading state machine)."""
        balance = await self.broker.balance()
        equity = float(balance.equity)
        self.keeper.mark_close(equity, bar_ms + int(self.bar_length.total_seconds() * 1000))
        self.guard.tripped_if(self.kill.check_daily_loss(equity, self.keeper.anchor, self.clock()))
        return Account(equity, float(balance.available), self.keeper.peak, self.keeper.anchor, self.trading_state,
                       tuple(h.position for h in self.held.values()))

    # --- closing, and the emergency policy ------------------------------------------------------------
    async def close_now(self, symbol: str, by: str, reason: str) -> LiveTrade | None:
        """Close ``symbol`` at market (protective orders cancelled), book, journal and alert it with ``reason``;
        None if nothing was held. The caller holds the lock."""
        if symbol not in self.held:
            return None
        now_ms = await self._exchange_ms()
        await self.executor.close_at_market(symbol, now_ms)
        trade = await self.executor.finish(symbol, reason)
        record = journal_record(timestamp=pd.Timestamp(now_ms, unit="ms", tz="UTC").isoformat(), symbol=symbol,
                                strategy=self.features[symbol].strategy.name, outcome=reason,
                                close=trade.exit_price, regime=None, regime_age=0, bias=0.0, confidence=0.0,
                                direction=0, proposal="NEUTRAL",
                                exits=[{"reason": reason, "qty": trade.qty, "price": trade.exit_price, "by": by}])
        self.journal.append(record)
        self.save([record])
        log.info("%s closed by %s", symbol, by, extra={"exit_reason_code": reason, "by": by})
        self.alert(reason, f"{symbol}: {trade.side} {trade.qty} closed by {by} at {trade.exit_price} ({reason})")
        return trade

    async def _emergency(self) -> None:
        """The kill switch tripped: its emergency policy on what is held (the guard runs this under the lock)."""
        if self.executor is None:
            return
        marks = {s: self.status.mark(s) for s in self.held}
        closed = await self.guard.emergency.apply(
            dict(self.held), marks, lambda s: self.close_now(s, "the kill switch", ExitReason.KILL_SWITCH.value),
            self.metrics, self.alert)
        if closed:
            self.save()

    # --- reconciliation ----------------------------------------------------------------------------
    async def reconcile(self, now_ms: int | None = None) -> list[str]:
        async with self.busy:
            actions = await self.reconcile_locked(now_ms)
            await self.guard.settle()
            return actions

    async def reconcile_locked(self, now_ms: int | None = None) -> list[str]:
        """The exchange is the truth (:class:`~autobot_lib.live.reconcile.Reconciler`); the caller holds the
        lock. Returns what was done, one line per difference."""
        await self.guard.check_clock(self.broker)
        if now_ms is None:
            now_ms = await self._exchange_ms()
        reconciler = Reconciler(self.broker, self.executor, self.symbols, self.params, self.status.atr,
                                self.settings.donchian.emergency_stop_fallback_pct, self.guard.report_error)
        actions = await reconciler.run(now_ms)
        for line in actions:
            self.alert(f"reconcile:{line.split(':')[0]}", line)    # per symbol: the dedupe window is per key
        if actions:
            self.save()
        return actions

    async def _exchange_ms(self) -> int:
        """The exchange's time (the clock its fills are stamped with), else this machine's."""
        try:
            return await self.broker.server_time_ms()
        except BrokerError:
            return int(self.clock() * 1000)


def _meter(metrics, symbol: str, decision: Decision, account: Account, orders: OrderManager | None,
           seconds: float, now: float) -> None:
    """A decided bar in the metrics: equity, the day's drawdown, signals, order and loop latencies."""
    if metrics is None:
        return
    metrics.set_equity(account.equity)
    metrics.set_daily_drawdown(max(0.0, 1.0 - account.equity / account.daily_anchor) if account.daily_anchor else 0.0)
    if decision.record.proposal != "NEUTRAL":
        metrics.signal_emitted(symbol)
    if orders is not None:
        for latency in orders.latencies:
            metrics.order_latency_observed("order", latency)
        orders.latencies.clear()
    metrics.loop_latency_observed(seconds)
    metrics.heartbeat(now)
