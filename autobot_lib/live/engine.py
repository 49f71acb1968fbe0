"""The live engine: per closed bar and symbol, the one decision path, then execution through a broker.

On bars that close together: the account as it stands at the close (equity at the mark, the daily
anchor, the trading state: the daily loss limit halts, as in the backtester), then every symbol's
:func:`autobot_lib.pipeline.decide` exactly as the backtester calls it: the symbols holding a position
first (each with the position held into the bar), then the flat ones, which see the positions left
after the bar's fills plus the entries already decided on this bar (MAX_POSITIONS), and the free margin
the orders decided before them leave. The decisions are
written ahead to the store; then the :class:`~autobot_lib.live.execution.Executor` makes the exchange
follow them, all symbols at once.

Reconciliation (at start and every POSITION_CHECK_INTERVAL) takes the exchange as the truth
(:class:`~autobot_lib.live.reconcile.Reconciler`). The kill switch turns the trading state to HALTED:
every entry is vetoed, stops stay.

By hand (through :mod:`autobot_lib.live.control`): :meth:`LiveEngine.pause` (REDUCING), ``resume``,
:meth:`LiveEngine.close_position` and :meth:`LiveEngine.flatten` (booked as ``manual_close``) and
:meth:`LiveEngine.apply_settings`; they take the engine's lock, so they never land inside a bar.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from datetime import date
from typing import Any, Callable

import numpy as np
import pandas as pd

from autobot_lib.config import Settings
from autobot_lib.exchange.ports import Broker, BrokerError, ErrorPolicy
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.journal import JournalRecord, record as journal_record
from autobot_lib.live.execution import Executor, Held
from autobot_lib.live.features import LiveFeatures
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.live.orders import OrderManager, Protection
from autobot_lib.live.reconcile import Reconciler
from autobot_lib.live.safety import KillSwitch, Trip
from autobot_lib.model import Account, Bar, IntentKind, MarketFilters, Position, TradingState
from autobot_lib.pipeline import Decision, decide
from autobot_lib.risk import kernel
from autobot_lib.risk.vetoes import correlations_with
from autobot_lib.plan import Plan, compile_plan
from autobot_lib.rules.rule import RuleSet
from autobot_lib.state import BotState, OpenPosition, StateStore, StateUnavailable

log = logging.getLogger("autobot.live")
_DAY_MS = 86_400_000
_MARGIN_MODE_LOCKED = (-4047, -4048)   # margin type cannot change with open orders / with a position


class LiveEngine:
    def __init__(self, settings: Settings, broker: Broker, symbols: list[str], *, plan: Plan | None = None,
                 rules: RuleSet | None = None, bar_length: pd.Timedelta = pd.Timedelta("1h"),
                 limiter: RateLimiter | None = None, store: StateStore | None = None,
                 alert: Callable[[str, str], Any] | None = None, metrics: Any = None,
                 clock: Callable[[], float] = time.time):
        """``settings`` for operations (restart, reconciliation); ``plan`` for the decisions (compiled from
        the settings and ``rules`` when not given)."""
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
        limits = self.plan.safety
        self.kill = KillSwitch(limits.max_errors, limits.error_window_s, limits.max_drift_ms, limits.daily_loss_limit)
        self.peak = self.anchor = self.last_equity = 0.0
        self.drift_ms = 0.0                       # this machine's clock against the exchange's, at the last check
        self.anchor_day: int | None = None
        # recent history for the notebook and the summary; the full journal lives in the store
        self.journal: deque[JournalRecord] = deque(maxlen=10_000)
        self.equity: deque[tuple[pd.Timestamp, float]] = deque(maxlen=10_000)   # at each decided close
        self.alerts: deque[tuple[str, str]] = deque(maxlen=1_000)
        self._alert, self.clock = alert, clock
        self.decision_seconds: deque[float] = deque(maxlen=100_000)
        self.store, self.metrics = store, metrics     # metrics: a BotMetrics, or None
        self.last_bar: dict[str, pd.Timestamp] = {}
        self.paused_by: str | None = None         # paused (REDUCING): no new entries, exits and stops go on
        self.busy = asyncio.Lock()                # a bar, a reconciliation and a manual command never interleave
        self.trade_listeners: list[Callable[[LiveTrade], Any]] = []   # each closed trade, once

    @property
    def held(self) -> dict[str, Held]:
        return self.executor.held if self.executor is not None else self._restored

    @property
    def trades(self) -> deque[LiveTrade]:
        return self.executor.trades if self.executor is not None else deque()

    # --- set-up --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Markets, leverage and margin type, the saved state (SAFE_RESTART), then reconciliation."""
        if self.store is not None and self.settings.SAFE_RESTART:
            self.restore(self.store.load())
        self.filters = await self.broker.markets(self.symbols)
        self.orders = OrderManager(self.broker, self.filters, self.limiter)
        self.executor = Executor(self.broker, self.orders, self.filters, self.params, self.alert, self._on_error,
                                 self.metrics, int(self.bar_length.total_seconds() * 1000), self._trade_closed)
        self.executor.held.update(self._restored)
        for symbol in self.symbols:
            await self._configure(symbol, self.params.leverage)
        balance = await self.broker.balance()
        self.peak = max(self.peak, float(balance.equity))
        await self.reconcile()

    async def _configure(self, symbol: str, leverage: int) -> None:
        """Leverage and isolated margin. A position or orders already open in another margin mode keep it:
        the position is adopted as it stands (reconciliation protects it), with an alert."""
        try:
            await self.broker.configure(symbol, leverage, isolated=True)
        except BrokerError as exc:
            if exc.code not in _MARGIN_MODE_LOCKED:
                raise
            self.alert("margin_mode", f"{symbol}: margin type left as it is ({exc}); what is open there is adopted "
                                      "as it stands")

    def _trade_closed(self, trade: LiveTrade) -> None:
        for listener in self.trade_listeners:
            try:
                listener(trade)
            except Exception as exc:     # a full disk or a down store never loses the bar: an alert
                log.exception("trade listener failed")
                self.alert("trade_record_failed", f"{trade.symbol}: the closed trade was not recorded by "
                                                  f"{getattr(listener, '__qualname__', listener)} ({exc!r})")

    def alert(self, key: str, text: str) -> None:
        self.alerts.append((key, text))
        log.warning(text, extra={"alert": key})
        if self._alert is not None:
            self._alert(key, text)

    # --- the bar ---------------------------------------------------------------------------------
    async def on_bar(self, symbol: str, bar: Bar) -> Decision:
        """A closed bar (``bar.timestamp`` is its open time)."""
        return (await self.on_bars([(symbol, bar)]))[0]

    async def on_bars(self, bars: list[tuple[str, Bar]]) -> list[Decision]:
        async with self.busy:
            return await self._on_bars(bars)

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
            held_elsewhere = [s for s in remaining if s != symbol]
            correlations = self._correlations(symbol, bar.timestamp, held_elsewhere) \
                if symbol not in held and signal.proposal.side is not None and held_elsewhere else None
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
            self.last_bar[symbol] = bar.timestamp
            self._observe(symbol, decision, account)
        self.save()
        outcomes = Counter(d.record.outcome.split(":")[0] for *_, d in decided)
        log.info("bar %s closed: %d symbols decided", bars[0][1].timestamp.isoformat(), len(decided),
                 extra={"outcomes": dict(outcomes), "positions": len(held), "equity": round(account.equity, 2),
                        "state": account.state.value})
        return [d for *_, d in decided]

    def _correlations(self, symbol: str, at: pd.Timestamp, held: list[str]) -> dict[str, float]:
        """``symbol``'s bar returns against each held symbol's over the CORRELATION_WINDOW bars up to ``at``
        (the correlation veto's input, as the backtester reads it from its arrays)."""
        bars = [at - k * self.bar_length for k in range(self.params.correlation_window, -1, -1)]
        closes = {}
        for s in (symbol, *held):
            known = dict(self.features[s].closes)
            closes[s] = np.array([known.get(t, math.nan) for t in bars], dtype=np.float64)
        return correlations_with(symbol, closes, held)

    async def _execute_safely(self, symbol: str, bar_ms: int, ctx, decision: Decision, holding: dict) -> None:
        """The executor's work for one symbol; a refusal is this symbol's alert, never the others' stop."""
        try:
            for intent in decision.intents:
                if intent.kind is IntentKind.ENTRY:
                    await self.executor.enter(intent, bar_ms, ctx.atr, ctx.regime)
            if decision.step is not None and symbol in self.executor.held:
                await self.executor.follow(symbol, bar_ms, decision, holding.get(symbol))
        except BrokerError as exc:
            self._on_error(symbol, exc)

    def _observe(self, symbol: str, decision: Decision, account: Account) -> None:
        if self.metrics is None:
            return
        m = self.metrics
        m.set_equity(account.equity)
        m.set_daily_drawdown(max(0.0, 1.0 - account.equity / account.daily_anchor) if account.daily_anchor else 0.0)
        if decision.record.proposal != "NEUTRAL":
            m.signal_emitted(symbol)
        for seconds in self.orders.latencies if self.orders else ():
            m.order_latency_observed("order", seconds)
        if self.orders:
            self.orders.latencies.clear()
        m.loop_latency_observed(self.decision_seconds[-1])
        m.heartbeat(self.clock())

    # --- state ---------------------------------------------------------------------------------------
    def snapshot(self) -> BotState:
        return BotState(
            self.kill.state, self.kill.detail or None, self.peak, self.anchor,
            None if self.anchor_day is None else date.fromordinal(date(1970, 1, 1).toordinal() + self.anchor_day),
            {s: OpenPosition(h.position, h.protection.stop_id, h.protection.ids) for s, h in self.held.items()},
            last_bar=dict(self.last_bar))

    def restore(self, state: BotState | None) -> None:
        """Positions, anchors, peak, kill switch and last bars from a snapshot; the exchange is checked next."""
        if state is None:
            return
        self.peak, self.anchor = state.peak_equity, state.daily_anchor
        self.anchor_day = None if state.anchor_day is None else \
            state.anchor_day.toordinal() - date(1970, 1, 1).toordinal()
        if state.trading_state is not TradingState.ACTIVE:
            self.kill.trip(Trip.MANUAL, state.kill_reason or "halted before the restart", self.clock())
        for symbol, saved in state.positions.items():
            self._restored[symbol] = _restored(saved)
        if self.executor is not None:
            self.executor.held.update(self._restored)
        self.last_bar = dict(state.last_bar)

    def save(self, records: list[JournalRecord] = ()) -> bool:
        """Snapshot and journal to the store; a store that is down is an alert, never a stop."""
        if self.store is None:
            return True
        try:
            if records:
                self.store.append_journal(records)
            self.store.save(self.snapshot())
            return True
        except StateUnavailable as exc:
            self.alert("state_unavailable", f"state store unavailable ({exc}); trading on in-memory state")
            return False

    async def account(self, bar_ms: int) -> Account:
        """The account at the close of the bar opened at ``bar_ms``: the daily anchor is the equity at the
        first close of a UTC day; the daily loss limit halts (the trading state machine)."""
        balance = await self.broker.balance()
        equity = float(balance.equity)
        day = (bar_ms + int(self.bar_length.total_seconds() * 1000)) // _DAY_MS
        if day != self.anchor_day:
            self.anchor_day, self.anchor = day, equity
        self.peak, self.last_equity = max(self.peak, equity), equity
        if self.kill.check_daily_loss(equity, self.anchor, self.clock()):
            self.alert("kill_switch", f"kill switch: {self.kill.detail}; entries halted, stops kept")
        return Account(equity, float(balance.available), self.peak, self.anchor, self.trading_state,
                       tuple(h.position for h in self.held.values()))

    def _on_error(self, symbol: str, exc: BrokerError) -> None:
        self.alert(f"order_error:{exc.code}", f"{symbol}: {exc}")
        if self.metrics is not None:
            self.metrics.order_error(str(exc.code or exc.policy.value))
        if exc.policy is ErrorPolicy.HALT:
            if self.kill.trip(Trip.MANUAL, f"exchange refused the account: {exc}", self.clock()):
                self.alert("kill_switch", f"kill switch: {self.kill.detail}")
        elif self.kill.record_error(str(exc), self.clock()):
            self.alert("kill_switch", f"kill switch: {self.kill.detail}; entries halted, stops kept")

    # --- manual control (autobot_lib.live.control) ----------------------------------------------------
    @property
    def trading_state(self) -> TradingState:
        """HALTED when the kill switch is tripped, REDUCING when paused, else ACTIVE."""
        return self.kill.state if self.kill.tripped else TradingState.REDUCING if self.paused_by else \
            TradingState.ACTIVE

    def pause(self, by: str) -> None:
        """No new entries (REDUCING); exits, trailing stops and protective orders go on."""
        self.paused_by = by
        self.alert("paused", f"paused by {by}: no new entries; exits and stops go on")

    def resume(self, by: str) -> None:
        self.paused_by = None
        self.alert("resumed", f"resumed by {by}" + (" (the kill switch is still tripped: re-arm it to trade)"
                                                   if self.kill.tripped else ""))

    async def close_position(self, symbol: str, by: str, reason: str = "manual_close") -> LiveTrade | None:
        """Close ``symbol`` at market now (protective orders cancelled), booked, journaled and alerted with
        ``reason``; None if nothing was held."""
        async with self.busy:
            return await self._close_by_hand(symbol, by, reason)

    async def flatten(self, by: str, reason: str = "manual_close") -> list[LiveTrade]:
        """Every position closed at market, positions the books did not know included (adopted first)."""
        async with self.busy:
            await self._reconcile()
            return [t for t in [await self._close_by_hand(s, by, reason) for s in list(self.held)] if t]

    async def _close_by_hand(self, symbol: str, by: str, reason: str) -> LiveTrade | None:
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

    async def apply_settings(self, settings: Settings) -> None:
        """New risk settings while running (validated by the caller): leverage on the exchange first, then
        the plan's parameters and the strategy's threshold. Indicator periods and the strategy itself cannot
        change here (the features would no longer be warm): that needs a restart."""
        plan = compile_plan(settings, getattr(self.plan.strategy, "rules", None))
        if plan.features != self.plan.features or plan.strategy.name != self.plan.strategy.name:
            raise ValueError("indicator periods and STRATEGY change only at a restart")
        params = plan.risk
        async with self.busy:
            if params.leverage != self.params.leverage:
                for symbol in self.symbols:
                    await self._configure(symbol, params.leverage)
            self.settings, self.plan, self.params = settings, plan, params
            if self.executor is not None:
                self.executor.params = params
            self.kill.daily_loss_limit = params.daily_loss_limit
            for features in self.features.values():
                features.strategy = plan.strategy

    # --- reconciliation ----------------------------------------------------------------------------
    async def check_clock(self) -> float:
        """Drift of this machine's clock against the exchange's, in ms; over 5 s the kill switch trips.
        (Not against the local venue: its clock is the replay's.)"""
        if self.broker.name not in ("testnet", "live"):
            return 0.0
        before = self.clock()
        server_ms = await self.broker.server_time_ms()
        drift = server_ms - (before + self.clock()) / 2 * 1000
        self.drift_ms = drift
        if self.metrics is not None:
            self.metrics.set_time_drift_ms(drift)
        if self.kill.check_drift(drift, self.clock()):
            self.alert("kill_switch", f"kill switch: {self.kill.detail}; entries halted, stops kept")
        return drift

    def halt(self, by: str) -> None:
        """The manual kill switch."""
        if self.kill.trip(Trip.MANUAL, f"halted by {by}", self.clock()):
            self.alert("kill_switch", f"kill switch: halted by {by}; entries halted, stops kept")
            self.save()

    def rearm(self, by: str) -> str:
        text = self.kill.rearm(by)
        self.alert("kill_switch_rearmed", text)
        self.save()
        return text

    async def reconcile(self, now_ms: int | None = None) -> list[str]:
        async with self.busy:
            return await self._reconcile(now_ms)

    async def _reconcile(self, now_ms: int | None = None) -> list[str]:
        """The exchange is the truth (:class:`~autobot_lib.live.reconcile.Reconciler`). Returns what was
        done, one line per difference."""
        await self.check_clock()
        if now_ms is None:
            now_ms = await self._exchange_ms()
        reconciler = Reconciler(self.broker, self.executor, self.symbols, self.params, self._atr,
                                self.settings.donchian.emergency_stop_fallback_pct, self._on_error)
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

    def _atr(self, symbol: str) -> float:
        rows = self.features[symbol].rows
        value = rows[-1].get("atr", math.nan) if rows else math.nan
        return float(value) if value is not None else math.nan


def _restored(saved: OpenPosition) -> Held:
    """A saved position with its protective orders' client ids (their roles are in the ids' suffixes)."""
    position = saved.position
    stop = saved.stop_order_id
    roles = {cid.rsplit("-", 1)[-1]: cid for cid in saved.client_order_ids}
    target = next((cid for role, cid in roles.items() if role.startswith("T")), None)
    ladder = tuple(sorted((int(role[1:]), cid) for role, cid in roles.items() if role[:1] == "L" and role[1:].isdigit()))
    generation = int(stop.rsplit("-S", 1)[1]) if stop and stop.rsplit("-S", 1)[-1].isdigit() else 0
    initial = position.first_entry_price - position.side.sign * position.risk_per_unit
    entry_ms = int(position.opened_at.value // 1_000_000) if position.opened_at is not pd.NaT else 0
    return Held(position, Protection(stop, None, None, target, None, ladder, generation), entry_ms=entry_ms,
                entry_bar_ms=entry_ms, initial_stop=initial)
