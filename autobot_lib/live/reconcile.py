"""Reconciliation: the exchange is the truth; make the books and the protective orders agree with it.

At start (after a restart) and on the watchdog's interval. Each symbol is repaired on its own: a refusal
for one is an alert and a retry at the next check, never the end of the others or of the process.

- a position the books hold that the exchange no longer does (a stop or target filled between bars, a
  hand on the exchange): its orders are cancelled and it is booked at the next bar's close, where the
  model says what closed it;
- a position held the other way round than the books say: flattened (nothing to manage it by);
- a position the books hold: its stop must stand with the right side, the exchange's quantity and the
  model's trigger; otherwise it is replaced. A stop the price has already passed cannot be placed
  (Binance -2021): the position is closed at market at once (fail closed);
- a position the books do not know, in a symbol this bot trades: adopted and protected at the
  strategy's stop distance from its entry (ATR x the stop multiple, or EMERGENCY_STOP_FALLBACK while
  the ATR is unknown); closed at market when even that stop has been passed;
- a protective order no position of the books owns: cancelled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

import pandas as pd

from autobot_lib.exchange.ports import Broker, BrokerError, ExchangePosition, OrderResult
from autobot_lib.live.execution import Executor, Held
from autobot_lib.live.orders import Protection, order_side
from autobot_lib.model import Position, Side
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.sizing import round_price


class Reconciler:
    def __init__(self, broker: Broker, executor: Executor, symbols: list[str], params: RiskParams,
                 atr_of: Callable[[str], float], fallback_stop_pct: float,
                 on_error: Callable[[str, BrokerError], None]):
        self.broker, self.executor, self.symbols, self.params = broker, executor, symbols, params
        self.atr_of, self.fallback_stop_pct, self.on_error = atr_of, fallback_stop_pct, on_error

    async def run(self, now_ms: int) -> list[str]:
        """One pass; returns what was done, one line per difference."""
        positions = await self.broker.positions()
        standing = {o.client_id: o for o in await self.broker.protective_orders()}
        actions = []
        booked = list(self.executor.held)
        replaced = {cid for h in self.executor.held.values() for cid in h.protection.ids}  # repairs cancel these
        for symbol in booked:
            actions += await self._guarded(symbol, self._held(symbol, positions.get(symbol), standing, now_ms))
        for symbol, ex in positions.items():
            if ex.amount == 0 or symbol in booked:      # (a position flattened above is gone)
                continue
            if symbol not in self.symbols:
                actions.append(f"{symbol}: a position this bot does not trade ({ex.amount}); left alone")
                continue
            actions += await self._guarded(symbol, self._adopt(symbol, ex, now_ms))
        mine = replaced | {cid for h in self.executor.held.values() for cid in h.protection.ids}
        for cid, order in standing.items():
            if cid not in mine:
                actions += await self._guarded(order.symbol, self._orphan(order))
        return actions

    async def _guarded(self, symbol: str, repair) -> list[str]:
        try:
            line = await repair
        except BrokerError as exc:
            self.on_error(symbol, exc)
            return [f"{symbol}: not repaired ({exc}); retried at the next check"]
        return [line] if line else []

    async def _held(self, symbol: str, ex: ExchangePosition | None, standing: dict[str, OrderResult],
                    now_ms: int) -> str | None:
        ex_ = self.executor
        held = ex_.held[symbol]
        if held.flat:
            return None                        # closed already; booked at the next close
        if ex is None or ex.amount == 0:
            await ex_.orders.cancel(symbol, held.protection)
            held.protection = Protection(generation=held.protection.generation)
            held.flat = "closed_on_exchange"
            return f"{symbol}: no longer held on the exchange; booked at the next bar's close"
        side = Side.LONG if ex.amount > 0 else Side.SHORT
        if side is not held.position.side:
            # the exchange holds the opposite of what the books say: nothing to manage it by, so flatten
            await ex_.close_at_market(symbol, now_ms, role="F")
            await ex_.finish(symbol, "flattened_on_reconcile")
            return (f"{symbol}: the exchange held {side.value} {abs(ex.amount)} against the books' "
                    f"{held.position.side.value}; flattened")
        qty = abs(ex.amount)
        if qty > Decimal(str(held.position.qty)):   # more than the books: someone added; the books take it
            held.position = held.position.with_(qty=float(qty))
        stop = standing.get(held.protection.stop_id)
        want = (order_side(side, True), qty, round_price(held.position.stop, ex_.filters[symbol]))
        if stop is not None and (stop.side, stop.qty, stop.trigger) == want:
            return None
        # the stop covers what the exchange holds; the books keep the model's quantity (a ladder level
        # filled between bars is the model's to book at the close)
        books = held.position
        held.position = books.with_(qty=float(qty))
        try:
            await ex_.protect(symbol, now_ms)
        finally:
            held.position = books
        if held.flat:
            return f"{symbol}: the price has passed its stop {want[2]}; closed at market"
        found = "missing" if stop is None else f"{stop.side} {stop.qty} at {stop.trigger}"
        return f"{symbol}: stop re-armed at {held.protection.stop_price} for {qty} (was {found})"

    async def _adopt(self, symbol: str, ex: ExchangePosition, now_ms: int) -> str:
        """A position the books did not hold: protect it at the strategy's stop distance from its entry."""
        ex_ = self.executor
        entry = float(ex.entry_price)
        atr = self.atr_of(symbol)
        distance = atr * self.params.stop_atr_k if atr == atr and atr > 0 else entry * self.fallback_stop_pct
        side = Side.LONG if ex.amount > 0 else Side.SHORT
        qty = float(abs(ex.amount))
        m = kernel.market(ex_.filters[symbol])
        stop = float(kernel.stop_price(side.sign, entry - side.sign * distance, m))
        position = Position(symbol, side, qty, entry, stop, None, distance,
                            distance / self.params.stop_atr_k, pd.Timestamp(now_ms, unit="ms", tz="UTC"), qty)
        ex_.held[symbol] = Held(position, entry_bar_ms=now_ms, entry_ms=now_ms, initial_stop=stop)
        await ex_.protect(symbol, now_ms)
        if ex_.held[symbol].flat:
            reason = ex_.held[symbol].flat
            await ex_.finish(symbol, "unprotectable_on_adoption")
            return (f"{symbol}: adopted {side.value} {qty} from the exchange, but the price has passed its stop "
                    f"{stop} ({reason}); closed at market")
        how = "ATR" if atr == atr and atr > 0 else f"{self.fallback_stop_pct:.1%} fallback"
        return f"{symbol}: adopted {side.value} {qty} from the exchange; stop at {stop} ({how})"

    async def _orphan(self, order: OrderResult) -> str:
        await self.executor.orders.cancel_one(order.symbol, order.client_id)    # gone already: fine
        return f"{order.symbol}: orphan protective order {order.client_id} cancelled"
