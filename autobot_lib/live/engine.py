"""The live engine: per closed bar and symbol, the one decision path, then execution through a broker.

On each closed bar: the symbol's streaming features (:class:`~autobot_lib.live.features.LiveFeatures`),
the daily anchor, then :func:`autobot_lib.pipeline.decide` exactly as the backtester calls it, with the
position held into the bar (if the exchange's stop closed it during the bar, the model's step says so
too, as the backtester's does), then the intents:

- ENTRY: a market order, then its protective stop (and target) through the algo endpoint; if the stop
  cannot be placed the position is closed again at once;
- STOP / ADD: the new stop is placed before the old one is cancelled;
- a market EXIT (regime, exit channel, time): protective orders cancelled, the position closed;
- stops and targets the model says filled inside the bar: the exchange's own orders did it; if the
  exchange still shows the position, it is closed at market.

Reconciliation (at start and every POSITION_CHECK_INTERVAL) takes the exchange as the truth: positions
the engine did not know are adopted and protected, positions that vanished are closed in the books,
positions without a stop get one (the watchdog), orphan protective orders are cancelled. The kill switch
turns the trading state to HALTED: every entry is vetoed, stops stay.

By hand (through :mod:`autobot_lib.live.control`): :meth:`LiveEngine.pause` (REDUCING), ``resume``,
:meth:`LiveEngine.close_position` and :meth:`LiveEngine.flatten` (booked as ``manual_close``) and
:meth:`LiveEngine.apply_settings`; they take the engine's lock, so they never land inside a bar.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Callable

import pandas as pd

from autobot_lib.config import Settings
from autobot_lib.exchange.ports import Broker, BrokerError, ErrorPolicy
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.journal import JournalRecord, record as journal_record
from autobot_lib.live.features import LiveFeatures
from autobot_lib.live.orders import OrderManager, Protection, client_id, order_side
from autobot_lib.live.safety import KillSwitch, Trip
from autobot_lib.model import Account, Bar, IntentKind, MarketFilters, OrderIntent, Position, Side, TradingState
from autobot_lib.pipeline import Decision, decide, open_position
from autobot_lib.risk.params import risk_params
from autobot_lib.rules.rule import RuleSet
from autobot_lib.state import BotState, OpenPosition, StateStore, StateUnavailable

log = logging.getLogger("autobot.live")
_DAY_MS = 86_400_000
_ASK = object()              # "not read yet": ask the exchange


@dataclass
class Held:
    position: Position
    protection: Protection = field(default_factory=Protection)
    entry_bar_ms: int = 0


@dataclass
class Trade:
    symbol: str
    side: str
    entry_price: float
    exit_price: float | None
    qty: float
    reason: str
    opened_ms: int
    closed_ms: int


class LiveEngine:
    def __init__(self, settings: Settings, broker: Broker, symbols: list[str], *, rules: RuleSet | None = None,
                 bar_length: pd.Timedelta = pd.Timedelta("1h"), limiter: RateLimiter | None = None,
                 store: StateStore | None = None, alert: Callable[[str, str], Any] | None = None,
                 metrics: Any = None, clock: Callable[[], float] = time.time):
        self.settings, self.broker, self.symbols = settings, broker, list(symbols)
        self.params = risk_params(settings)
        self.features = {s: LiveFeatures(settings, rules, bar_length) for s in self.symbols}
        self.bar_length = bar_length
        self.limiter = limiter or getattr(broker, "limiter", None) or RateLimiter()   # one count per account
        self.filters: dict[str, MarketFilters] = {}
        self.orders: OrderManager | None = None
        self.held: dict[str, Held] = {}
        self.kill = KillSwitch(daily_loss_limit=self.params.daily_loss_limit)
        self.peak = self.anchor = self.last_equity = 0.0
        self.anchor_day: int | None = None
        # recent history for the notebook and the summary; the full journal lives in the store
        self.journal: deque[JournalRecord] = deque(maxlen=10_000)
        self.trades: deque[Trade] = deque(maxlen=1_000)
        self.alerts: deque[tuple[str, str]] = deque(maxlen=1_000)
        self._alert, self.clock = alert, clock
        self.decision_seconds: deque[float] = deque(maxlen=100_000)
        self.store, self.metrics = store, metrics     # metrics: a BotMetrics, or None
        self.last_bar: dict[str, pd.Timestamp] = {}
        self.paused_by: str | None = None         # paused (REDUCING): no new entries, exits and stops go on
        self.busy = asyncio.Lock()                # a bar, a reconciliation and a manual command never interleave

    # --- set-up --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Markets, leverage and margin type, the saved state (SAFE_RESTART), then reconciliation."""
        if self.store is not None and self.settings.SAFE_RESTART:
            self.restore(self.store.load())
        self.filters = await self.broker.markets(self.symbols)
        self.orders = OrderManager(self.broker, self.filters, self.limiter)
        for symbol in self.symbols:
            await self.broker.configure(symbol, self.params.leverage, isolated=True)
        balance = await self.broker.balance()
        self.peak = max(self.peak, float(balance.equity))
        await self.reconcile()

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
        """Bars that closed together: every decision first, in symbol order, on the account as it stands at
        the close (as the backtester decides them), each written ahead to the store; then all their orders
        at once, so the hundredth symbol's entry does not wait for the first ninety-nine."""
        bars = sorted(bars, key=lambda item: item[0])
        bar_ms = int(bars[0][1].timestamp.value // 1_000_000)
        account = await self.account(bar_ms)
        positions = {h.position.symbol: h.position for h in self.held.values()}
        decided = []
        for symbol, bar in bars:
            started = time.perf_counter()
            features = self.features[symbol]
            features.update(bar)
            ctx = features.context(self.filters.get(symbol, MarketFilters()), exit_channel=self.params.exit_channel)
            here = Account(account.equity, account.available, account.peak_equity, account.daily_anchor, account.state,
                           tuple(positions.values()))
            decision = decide(symbol, ctx, features.signal(), here, self.params, features.strategy.name)
            if decision.step is not None and decision.step.position is None:
                positions.pop(symbol, None)      # closed inside the bar: the next symbols see it gone
            self.decision_seconds.append(time.perf_counter() - started)
            self.journal.append(decision.record)
            decided.append((symbol, bar, ctx, decision))
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
                 extra={"outcomes": dict(outcomes), "positions": len(self.held), "equity": round(account.equity, 2),
                        "state": self.kill.state.value})
        return [d for *_, d in decided]

    async def _execute_safely(self, symbol: str, bar_ms: int, ctx, decision: Decision, holding: dict) -> None:
        try:
            await self._execute(symbol, bar_ms, ctx.atr, ctx.decided_at, decision, holding)
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
            {s: OpenPosition(h.position, h.protection.stop_id,
                             tuple(c for c in (h.protection.stop_id, h.protection.target_id) if c))
             for s, h in self.held.items()},
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
        for symbol, held in state.positions.items():
            stop = held.stop_order_id
            target = next((c for c in held.client_order_ids if c != stop), None)
            generation = int(stop.rsplit("-S", 1)[1]) if stop and stop.rsplit("-S", 1)[-1].isdigit() else 0
            self.held[symbol] = Held(held.position, Protection(stop, None, target, generation))
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
        balance = await self.broker.balance()
        equity = float(balance.equity)
        day = bar_ms // _DAY_MS
        if day != self.anchor_day:
            self.anchor_day, self.anchor = day, equity
        self.peak, self.last_equity = max(self.peak, equity), equity
        if self.kill.check_daily_loss(equity, self.anchor, self.clock()):
            self.alert("kill_switch", f"kill switch: {self.kill.detail}; entries halted, stops kept")
        return Account(equity, float(balance.available), self.peak, self.anchor, self.trading_state,
                       tuple(h.position for h in self.held.values()))

    async def _execute(self, symbol: str, bar_ms: int, atr: float, decided_at: pd.Timestamp,
                       decision: Decision, holding: dict) -> None:
        """``holding``: the exchange's positions at the close ({symbol: ExchangePosition})."""
        step = decision.step
        for intent in decision.intents:
            if intent.kind is IntentKind.ENTRY:
                await self._enter(intent, bar_ms, atr, decided_at)
        if step is None:
            return
        held = self.held.get(symbol)
        if held is None:
            return
        exchange = holding.get(symbol)
        if step.position is not None and step.close_reason is None and (exchange is None or exchange.amount == 0):
            # a protective order closed it inside the bar where the model's stop did not quite reach
            await self.orders.cancel(symbol, held.protection)
            self._book_close(symbol, held, None, "protective_order", bar_ms)
            return
        if step.position is None or step.close_reason is not None:
            reason = step.close_reason.value if step.close_reason else step.exits[-1].reason.value
            await self._close(symbol, bar_ms, reason, exchange)
            return
        adds = [i for i in decision.intents if i.kind is IntentKind.ADD]
        added = Decimal(0)
        for k, add in enumerate(adds):
            cid = client_id(symbol, bar_ms, f"A{held.position.pyramid_steps + k + 1}")
            added += (await self.orders.market(symbol, order_side(add.side, False), add.qty, cid)).filled
        # the quantity is what the exchange filled (adds are rounded to its step), not the model's
        held.position = step.position.with_(qty=float(Decimal(str(held.position.qty)) + added)) if adds \
            else step.position
        if step.stop_moved or adds:
            held.protection = await self.orders.protect(held.position, bar_ms, held.protection)

    async def _enter(self, intent: OrderIntent, bar_ms: int, atr: float, decided_at: pd.Timestamp) -> None:
        symbol = intent.symbol
        cid = client_id(symbol, bar_ms, "E")
        try:
            result = await self.orders.market(symbol, order_side(intent.side, False), intent.qty, cid)
        except BrokerError as exc:
            self._on_error(symbol, exc)
            return
        if result.filled <= 0:
            self.alert("entry_unfilled", f"{symbol}: entry {cid} not filled ({result.status})")
            return
        intent = OrderIntent(symbol, intent.kind, intent.side, result.filled, intent.price, intent.stop_price,
                             intent.take_profit, reason=intent.reason)
        position = open_position(intent, float(result.avg_price), atr, decided_at, self.params)
        held = Held(position, entry_bar_ms=bar_ms)
        self.held[symbol] = held
        log.info("%s %s %s filled at %s", symbol, position.side.value, result.filled, result.avg_price,
                 extra={"client_id": cid, "stop": round(position.stop, 8), "reason": intent.reason})
        try:
            held.protection = await self.orders.protect(position, bar_ms, held.protection)
        except BrokerError as exc:
            # fail closed: a position the exchange will not protect is not kept
            self.alert("stop_rejected", f"{symbol}: protective stop refused ({exc}); closing the position")
            await self._close(symbol, bar_ms, "stop_rejected")

    async def _close(self, symbol: str, bar_ms: int, reason: str, exchange=_ASK) -> None:
        """Close at market what the exchange still holds (``exchange``: its position, if already read)."""
        held = self.held.get(symbol)
        if held is None:
            return
        await self.orders.cancel(symbol, held.protection)
        if exchange is _ASK:
            exchange = (await self.broker.positions()).get(symbol)
        exit_price = None
        if exchange is not None and exchange.amount != 0:
            cid = client_id(symbol, bar_ms, "X")
            result = await self.orders.market(symbol, order_side(held.position.side, True), abs(exchange.amount), cid,
                                              reduce_only=True)
            exit_price = float(result.avg_price)
        self._book_close(symbol, held, exit_price, reason, bar_ms)

    def _book_close(self, symbol: str, held: Held, exit_price: float | None, reason: str, bar_ms: int) -> None:
        pos = held.position
        log.info("%s %s closed (%s)", symbol, pos.side.value, reason,
                 extra={"entry": pos.first_entry_price, "exit": exit_price, "qty": pos.qty})
        self.trades.append(Trade(symbol, pos.side.value, pos.first_entry_price, exit_price, pos.qty, reason,
                                 held.entry_bar_ms, bar_ms))
        if self.metrics is not None and exit_price is not None and pos.risk_per_unit:
            self.metrics.trade_closed(pos.r_multiple(exit_price))
        del self.held[symbol]

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

    async def close_position(self, symbol: str, by: str, reason: str = "manual_close") -> Trade | None:
        """Close ``symbol`` at market now (protective orders cancelled), booked, journaled and alerted with
        ``reason``; None if nothing was held."""
        async with self.busy:
            return await self._close_by_hand(symbol, by, reason)

    async def flatten(self, by: str, reason: str = "manual_close") -> list[Trade]:
        """Every position closed at market, positions the books did not know included (adopted first)."""
        async with self.busy:
            await self._reconcile()
            return [t for t in [await self._close_by_hand(s, by, reason) for s in list(self.held)] if t]

    async def _close_by_hand(self, symbol: str, by: str, reason: str) -> Trade | None:
        if symbol not in self.held:
            return None
        try:
            now_ms = await self.broker.server_time_ms()    # the exchange's time: the bars' clock
        except BrokerError:
            now_ms = int(self.clock() * 1000)
        await self._close(symbol, now_ms, reason)
        trade = self.trades[-1]
        record = journal_record(timestamp=pd.Timestamp(now_ms, unit="ms", tz="UTC").isoformat(), symbol=symbol,
                                strategy=self.features[symbol].strategy.name, outcome=reason,
                                close=trade.exit_price if trade.exit_price is not None else float("nan"),
                                regime=None, regime_age=0, bias=0.0, confidence=0.0, direction=0, proposal="NEUTRAL",
                                exits=[{"reason": reason, "qty": trade.qty, "price": trade.exit_price, "by": by}])
        self.journal.append(record)
        self.save([record])
        log.info("%s closed by %s", symbol, by, extra={"exit_reason_code": reason, "by": by})
        self.alert(reason, f"{symbol}: {trade.side} {trade.qty} closed by {by} at {trade.exit_price} ({reason})")
        return trade

    async def apply_settings(self, settings: Settings) -> None:
        """New risk settings while running (validated by the caller): leverage on the exchange first, then
        the parameters and the strategy's threshold. Indicator periods and the strategy itself cannot
        change here (the features would no longer be warm): that needs a restart."""
        from autobot_lib.pipeline import feature_spec, strategy_for

        if feature_spec(settings) != feature_spec(self.settings) or settings.STRATEGY != self.settings.STRATEGY:
            raise ValueError("indicator periods and STRATEGY change only at a restart")
        params = risk_params(settings)
        async with self.busy:
            if params.leverage != self.params.leverage:
                for symbol in self.symbols:
                    await self.broker.configure(symbol, params.leverage, isolated=True)
            self.settings, self.params = settings, params
            self.kill.daily_loss_limit = params.daily_loss_limit
            for features in self.features.values():
                features.strategy = strategy_for(settings, getattr(features.strategy, "rules", None))

    # --- reconciliation ----------------------------------------------------------------------------
    async def check_clock(self) -> float:
        """Drift of this machine's clock against the exchange's, in ms; over 5 s the kill switch trips.
        (Not against the local venue: its clock is the replay's.)"""
        if self.broker.name not in ("testnet", "live"):
            return 0.0
        before = self.clock()
        server_ms = await self.broker.server_time_ms()
        drift = server_ms - (before + self.clock()) / 2 * 1000
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
        """The exchange is the truth. Returns what was done, one line per difference."""
        await self.check_clock()
        now_ms = now_ms if now_ms is not None else int(self.clock() * 1000)
        actions = []
        positions = await self.broker.positions()
        standing = {o.client_id: o for o in await self.broker.protective_orders()}
        for symbol in list(self.held):
            if symbol not in positions or positions[symbol].amount == 0:
                held = self.held[symbol]
                await self.orders.cancel(symbol, held.protection)
                self._book_close(symbol, held, None, "closed_on_exchange", now_ms)
                actions.append(f"{symbol}: closed on the exchange; booked")
        for symbol, ex in positions.items():
            if ex.amount == 0:
                continue
            if symbol not in self.symbols:
                actions.append(f"{symbol}: a position this bot does not trade ({ex.amount}); left alone")
                continue
            held = self.held.get(symbol)
            side = Side.LONG if ex.amount > 0 else Side.SHORT
            if held is not None and held.position.side is not side:
                # the exchange holds the opposite of what the books say: nothing to manage it by, so flatten
                await self.orders.cancel(symbol, held.protection)
                await self.orders.market(symbol, order_side(side, True), abs(ex.amount),
                                         client_id(symbol, now_ms, "F"), reduce_only=True)
                self._book_close(symbol, held, None, "flattened_on_reconcile", now_ms)
                actions.append(f"{symbol}: the exchange held {side.value} {abs(ex.amount)} against the books' "
                               f"{held.position.side.value}; flattened")
                continue
            if held is None:
                held = self._adopt(symbol, ex.amount, float(ex.entry_price), now_ms)
                actions.append(f"{symbol}: adopted {side.value} {abs(ex.amount)} from the exchange")
            elif Decimal(str(held.position.qty)) != abs(ex.amount):
                held.position = held.position.with_(qty=float(abs(ex.amount)))
                held.protection = Protection(None, None, None, held.protection.generation)
                actions.append(f"{symbol}: quantity {abs(ex.amount)} taken from the exchange")
            if held.protection.stop_id not in standing:
                held.protection = await self.orders.protect(held.position, now_ms, held.protection)
                actions.append(f"{symbol}: stop re-armed at {held.protection.stop_price}")
        mine = {cid for h in self.held.values() for cid in (h.protection.stop_id, h.protection.target_id) if cid}
        for cid, order in standing.items():
            if cid not in mine:
                await self.orders.cancel(order.symbol, Protection(cid))     # gone already: fine
                actions.append(f"{order.symbol}: orphan protective order {cid} cancelled")
        for line in actions:
            self.alert(f"reconcile:{line.split(':')[0]}", line)    # per symbol: the dedupe window is per key
        return actions

    def _adopt(self, symbol: str, amount: Decimal, entry: float, now_ms: int) -> Held:
        """A position the books did not hold: protect it at the strategy's stop distance from its entry."""
        features = self.features[symbol]
        row = features.rows[-1] if features.rows else {}
        atr = float(row.get("atr", float("nan")))
        distance = atr * self.params.stop_atr_k if atr == atr else entry * 0.02   # no ATR yet: 2 % away
        side = Side.LONG if amount > 0 else Side.SHORT
        qty = float(abs(amount))
        position = Position(symbol, side, qty, entry, entry - side.sign * distance, None, distance,
                            distance / self.params.stop_atr_k, pd.Timestamp(now_ms, unit="ms", tz="UTC"), qty)
        held = Held(position, entry_bar_ms=now_ms)
        self.held[symbol] = held
        return held
