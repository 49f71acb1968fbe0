"""The executor: what the live engine holds, and the orders that make the exchange follow the model.

Per closed bar the engine hands each decision here. The executor sends exactly what the model decided,
on the fill model the backtester books (``docs/fill-model.md``):

- an ENTRY: a market order (it fills at about the next open), the position the fill opens (stop and
  target from the fill: :func:`autobot_lib.pipeline.open_position`, the backtester's formula), then its
  protective orders: the stop and the single target, or one take profit per ladder level. A position
  whose stop is refused is closed again at once (fail closed);
- a position held into the bar: the fills the model books inside the bar were the exchange's own stop
  and targets; the exchange's quantity is checked against the model's (a level the exchange missed is
  closed at market now, a difference the exchange made is taken from it); a market exit; pyramid adds;
  then the stop for the next bar, covering the whole quantity, when it moved or the quantity changed;
- a stop the price has already passed (Binance -2021, e.g. break-even above the next open): the
  position is closed at market at once, where the backtester books that stop (the next open), and the
  trade is booked at the next bar, with the model's reason. It is not an error.

Each closed position becomes a :class:`~autobot_lib.live.ledger.LiveTrade` from the exchange's own
executions and funding. Errors of one symbol never stop the others (the engine guards each call).

Metrics (a :class:`~autobot_lib.live.metrics.BotMetrics`, when given): every closed trade
(``bot_trade_count_total``; its R, when known, in ``bot_avg_r_atr_30``), every take-profit order placed (the
single target, again when its quantity changes; each ladder level once) and every one the exchange
filled: the model's take-profit exits of the bar, less what the exchange did not fill (closed at market
here instead, which is no take-profit fill).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

import pandas as pd

from autobot_lib.exchange.ports import Broker, BrokerError, ExchangePosition
from autobot_lib.live.ledger import LiveTrade, trade_record
from autobot_lib.live.orders import OrderManager, Protection, StopWouldTrigger, client_id, order_side
from autobot_lib.model import Bar, ExitReason, IntentKind, MarketFilters, OrderIntent, Position
from autobot_lib.pipeline import Decision, open_position
from autobot_lib.risk import kernel
from autobot_lib.risk.exits import PositionStep, ladder_orders
from autobot_lib.risk.params import RiskParams

log = logging.getLogger("autobot.live")


@dataclass
class Held:
    """A position the engine holds, with what its trade record needs."""

    position: Position
    protection: Protection = field(default_factory=Protection)
    entry_bar_ms: int = 0            # the decided bar's open: the client ids' time
    entry_ms: int = 0                # the entry fill's time (the decided bar's close)
    initial_stop: float = math.nan
    mae: float = 0.0                 # the worst and best excursion from the first entry, in price
    mfe: float = 0.0
    rules: str = ""
    regime: str | None = None
    flat: str | None = None          # the exchange holds nothing any more: why; booked at the next close

    def observe(self, bar: Bar, step: PositionStep) -> None:
        """A bar held into: the excursions up to the bar's last fill, as the backtester counts them."""
        ended, fill = 0, 0.0
        if step.position is None:
            last = step.exits[-1]
            ended = 2 if last.reason in (ExitReason.TAKE_PROFIT, ExitReason.TP_LADDER) else 1
            fill = last.price
        best, worst = kernel.bar_excursions(self.position.side.sign, self.position.first_entry_price, bar.open,
                                            bar.high, bar.low, ended, fill)
        self.mfe, self.mae = max(self.mfe, best), min(self.mae, worst)


def _qty(x: float | Decimal) -> Decimal:
    return Decimal(str(x))


# exits the model sends as a market order at the close; every other exit intent reports a fill of the
# standing stop or targets inside the bar
_AT_MARKET = frozenset({ExitReason.REGIME_CHANGE, ExitReason.EXIT_CHANNEL, ExitReason.MAX_HOLDING_TIME})


class Executor:
    def __init__(self, broker: Broker, orders: OrderManager, filters: dict[str, MarketFilters], params: RiskParams,
                 alert: Callable[[str, str], None], on_error: Callable[[str, BrokerError], None],
                 metrics=None, bar_ms: int = 3_600_000, on_trade: Callable[[LiveTrade], None] | None = None):
        self.broker, self.orders, self.filters, self.params = broker, orders, filters, params
        self.alert, self.on_error, self.metrics, self.bar_ms = alert, on_error, metrics, bar_ms
        self.on_trade = on_trade                 # every closed trade, once (the trade log, the announcer)
        self.held: dict[str, Held] = {}
        self.trades: deque[LiveTrade] = deque(maxlen=1_000)

    # --- an entry --------------------------------------------------------------------------------
    async def enter(self, intent: OrderIntent, bar_ms: int, atr: float, regime: str | None) -> None:
        symbol = intent.symbol
        cid = client_id(symbol, bar_ms, "E")
        try:
            result = await self.orders.market(symbol, order_side(intent.side, False), intent.qty, cid)
        except BrokerError as exc:
            self.on_error(symbol, exc)
            return
        if result.filled <= 0:
            self.alert("entry_unfilled", f"{symbol}: entry {cid} not filled ({result.status})")
            return
        filled = OrderIntent(symbol, intent.kind, intent.side, result.filled, intent.price, reason=intent.reason)
        entry_ms = bar_ms + self.bar_ms
        position = open_position(filled, float(result.avg_price), atr, pd.Timestamp(entry_ms, unit="ms", tz="UTC"),
                                 self.params, self.filters[symbol])
        held = Held(position, entry_bar_ms=bar_ms, entry_ms=entry_ms, initial_stop=position.stop, rules=intent.reason,
                    regime=regime)
        self.held[symbol] = held
        log.info("%s %s %s filled at %s", symbol, position.side.value, result.filled, result.avg_price,
                 extra={"client_id": cid, "stop": position.stop, "reason": intent.reason})
        try:
            held.protection = await self._place(held, bar_ms)
        except BrokerError as exc:
            # fail closed: a position the exchange will not protect is not kept
            self.alert("stop_rejected", f"{symbol}: protective stop refused ({exc}); closing the position")
            await self.close_at_market(symbol, bar_ms)
            await self.finish(symbol, "stop_rejected")

    async def _place(self, held: Held, bar_ms: int) -> Protection:
        """The stop (replacing the standing one) and the targets; a refused target is an alert, not a stop."""
        protection, refused = await self.orders.protect(held.position, bar_ms, held.protection,
                                                        ladder_orders(held.position, self.params,
                                                                      self.filters[held.position.symbol]))
        for text in refused:
            self.alert("target_rejected", f"{held.position.symbol}: take profit refused ({text}); the stop stands")
        if self.metrics is not None:
            before = dict(held.protection.ladder)
            placed = [cid for level, cid in protection.ladder if before.get(level) != cid]
            if protection.target_id is not None and protection.target_id != held.protection.target_id:
                placed.append(protection.target_id)
            for _ in placed:
                self.metrics.tp_order_placed(held.position.symbol, held.position.side.value)
        return protection

    def _count_tp_fills(self, symbol: str, side: str, filled: list[OrderIntent], missed: Decimal) -> None:
        """The bar's take-profit exits the exchange's own orders filled: the model's, less the ``missed``
        quantity the exchange did not fill (the model's last exits of the bar; closed at market instead)."""
        if self.metrics is None:
            return
        left = missed
        for fill in reversed(filled):
            if left > 0:
                left -= fill.qty
                continue
            if fill.reason in (ExitReason.TAKE_PROFIT, ExitReason.TP_LADDER):
                self.metrics.tp_filled(symbol, side, fill.reason)

    # --- a position held into the bar --------------------------------------------------------------
    async def follow(self, symbol: str, bar_ms: int, decision: Decision, exchange: ExchangePosition | None) -> None:
        """Carry out the bar's intents for a held position; ``exchange``: its position at the close. The fills
        the intents report (EXIT / PARTIAL_EXIT by the stop or a target) were the exchange's own orders: the
        exchange's quantity is checked against them; then the market EXIT, the ADDs and the STOP are sent."""
        held, intents = self.held[symbol], decision.intents
        filled = [i for i in intents if i.kind in (IntentKind.EXIT, IntentKind.PARTIAL_EXIT) and i.reason not in _AT_MARKET]
        at_market = next((i for i in intents if i.kind is IntentKind.EXIT and i.reason in _AT_MARKET), None)
        adds = [i for i in intents if i.kind is IntentKind.ADD]
        stop = next((i for i in intents if i.kind is IntentKind.STOP), None)
        on_exchange = Decimal(0) if held.flat or exchange is None else abs(exchange.amount)
        side = held.position.side.value
        if filled and filled[-1].kind is IntentKind.EXIT:   # the model closed it inside the bar
            reason = filled[-1].reason
            self._count_tp_fills(symbol, side, filled, on_exchange)
            if on_exchange:
                self.alert("exit_at_market", f"{symbol}: the model's {reason} was reached, the exchange's order "
                                             f"was not: closing {on_exchange} at market")
                await self.close_at_market(symbol, bar_ms)
            await self.finish(symbol, reason)
            return
        if not on_exchange:                            # the exchange closed it where the model did not
            await self.finish(symbol, held.flat or "closed_on_exchange")
            return
        # the model's position after the bar (its state for the next decision), before this bar's adds
        model = _qty(decision.step.position.qty) - sum((a.qty for a in adds), Decimal(0))
        differs = on_exchange != model
        self._count_tp_fills(symbol, side, filled, max(on_exchange - model, Decimal(0)))
        if on_exchange > model:                        # a ladder level the exchange did not fill
            cid = client_id(symbol, bar_ms, "P")
            await self.orders.market(symbol, order_side(held.position.side, True), on_exchange - model, cid,
                                     reduce_only=True)
            self.alert("exit_at_market", f"{symbol}: {on_exchange - model} the model closed inside the bar closed "
                                         "at market")
        elif on_exchange < model:
            self.alert("quantity_differs", f"{symbol}: the exchange holds {on_exchange}, the model {model}: "
                                           "the exchange's quantity is kept")
            model = on_exchange
        held.position = position = decision.step.position.with_(qty=float(model), entry_price=held.position.entry_price)
        if at_market is not None:
            await self.close_at_market(symbol, bar_ms)
            await self.finish(symbol, at_market.reason)
            return
        for k, add in enumerate(adds):
            cid = client_id(symbol, bar_ms, f"A{position.pyramid_steps - len(adds) + k + 1}")
            try:
                result = await self.orders.market(symbol, order_side(add.side, False), add.qty, cid)
            except BrokerError as exc:   # the add is lost; the stop still moves, for what is held
                self.on_error(symbol, exc)
                continue
            if result.filled > 0:        # the average entry as the exchange keeps it
                qty = position.qty + float(result.filled)
                entry = (position.entry_price * position.qty + float(result.avg_price) * float(result.filled)) / qty
                position = position.with_(qty=float(_qty(position.qty) + result.filled), entry_price=entry)
        held.position = position
        if stop is not None or differs:                # the STOP intent, or a quantity the exchange changed
            await self.protect(symbol, bar_ms)

    async def protect(self, symbol: str, bar_ms: int) -> None:
        """The held position's stop (and targets) as the model holds them. A stop the price has passed:
        the position is closed at market now and booked at the next close, where the model books the stop."""
        held = self.held[symbol]
        try:
            held.protection = await self._place(held, bar_ms)
        except StopWouldTrigger:
            state = kernel.position_state(held.position)
            reason = kernel.EXIT_REASONS[kernel.stop_reason(state, kernel.market(self.filters[symbol]))].value
            self.alert("stop_passed", f"{symbol}: the price has passed the stop {held.position.stop}: closed at "
                                      f"market ({reason})")
            await self.close_at_market(symbol, bar_ms)
            held.flat = reason

    # --- closing -------------------------------------------------------------------------------------
    async def close_at_market(self, symbol: str, bar_ms: int, role: str = "X") -> None:
        """Close at market what the exchange holds of ``symbol``, then cancel its protective orders."""
        held = self.held[symbol]
        exchange = (await self.broker.positions()).get(symbol)
        if exchange is not None and exchange.amount != 0:
            side = order_side(held.position.side, True) if (exchange.amount > 0) == (held.position.side.sign > 0) \
                else ("SELL" if exchange.amount > 0 else "BUY")
            await self.orders.market(symbol, side, abs(exchange.amount), client_id(symbol, bar_ms, role),
                                     reduce_only=True)
        await self.orders.cancel(symbol, held.protection)
        held.protection = Protection(generation=held.protection.generation)

    async def finish(self, symbol: str, reason: str) -> LiveTrade:
        """Book the closed position as a trade (the exchange's fills and funding) and forget it."""
        held = self.held.pop(symbol)
        await self._cancel_quietly(symbol, held.protection)
        pos = held.position
        try:
            fills = await self.broker.fills(symbol, held.entry_ms)
            funding = await self.broker.funding_fees(symbol, held.entry_ms)
        except BrokerError as exc:
            self.alert("trade_books_unread", f"{symbol}: the exchange's fills could not be read ({exc}); the trade "
                                             "is booked without its costs")
            fills, funding = [], []
        trade = trade_record(pos, fills, funding, entry_ms=held.entry_ms, reason=reason, initial_stop=held.initial_stop,
                             mae=held.mae, mfe=held.mfe, rules=held.rules, regime=held.regime)
        self.trades.append(trade)
        if self.on_trade is not None:
            self.on_trade(trade)
        log.info("%s %s closed (%s)", symbol, pos.side.value, reason,
                 extra={"entry": trade.entry_price, "exit": trade.exit_price, "qty": trade.qty, "pnl": trade.pnl,
                        "r": trade.r_multiple})
        if self.metrics is not None:          # every closed trade counts; an unknown R only not in the mean
            self.metrics.trade_closed(trade.r_multiple)
        return trade

    async def _cancel_quietly(self, symbol: str, protection: Protection) -> None:
        try:
            await self.orders.cancel(symbol, protection)
        except BrokerError as exc:
            self.alert("cancel_failed", f"{symbol}: protective orders not cancelled ({exc}); reconciliation retries")
