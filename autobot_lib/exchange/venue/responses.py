"""The account model rendered as Binance USD-M answers: REST bodies and user-data stream events.

Field names, string/number types and field sets follow Binance's documented and captured answers (ccxt's
fixtures for ``/fapi/v3/account`` and ``/fapi/v3/positionRisk``, ccxt's own comments for the algo order
and ``ALGO_UPDATE`` shapes), so ccxt parses them as it parses Binance's.
"""

from __future__ import annotations

from decimal import Decimal

from autobot_lib.exchange.venue.account import Account, AlgoOrder, Event, Fill, Order
from autobot_lib.exchange.venue.market import decimals


def _q(x: Decimal, places: int) -> str:
    return f"{x:.{places}f}"


def _money(x: Decimal) -> str:
    return _q(x, 8)


class Shapes:
    """Formats numbers with each symbol's own precision, as Binance does."""

    def __init__(self, account: Account):
        self.account = account

    def _px(self, symbol: str, x: Decimal) -> str:
        return _q(x, decimals(self.account.specs[symbol].tick_size))

    def _qty(self, symbol: str, x: Decimal) -> str:
        return _q(x, decimals(self.account.specs[symbol].step_size))

    # --- REST ----------------------------------------------------------------------------------

    def order(self, o: Order) -> dict:
        return {
            "orderId": o.order_id, "symbol": o.symbol, "status": o.status, "clientOrderId": o.client_id,
            "price": self._px(o.symbol, o.price), "avgPrice": self._px(o.symbol, o.avg_price),
            "origQty": self._qty(o.symbol, o.qty), "executedQty": self._qty(o.symbol, o.executed),
            "cumQty": self._qty(o.symbol, o.executed), "cumQuote": _q(o.cum_quote, 5),
            "timeInForce": o.time_in_force, "type": o.type, "reduceOnly": o.reduce_only, "closePosition": False,
            "side": o.side, "positionSide": "BOTH", "stopPrice": self._px(o.symbol, o.stop_price),
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": o.orig_type or o.type,
            "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "time": o.time_ms, "updateTime": o.update_ms,
        }

    def algo(self, a: AlgoOrder) -> dict:
        return {
            "algoId": a.algo_id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL", "orderType": a.type,
            "symbol": a.symbol, "side": a.side, "positionSide": "BOTH", "timeInForce": "GTC",
            "quantity": self._qty(a.symbol, a.qty), "algoStatus": a.status,
            "actualOrderId": str(a.actual_order_id or ""), "actualPrice": self._px(a.symbol, a.fill_price),
            "triggerPrice": self._px(a.symbol, a.trigger), "price": self._px(a.symbol, Decimal(0)),
            "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "CONTRACT_PRICE",
            "priceMatch": "NONE", "closePosition": a.close_position, "priceProtect": False,
            "reduceOnly": a.reduce_only, "createTime": a.create_ms, "updateTime": a.update_ms,
            "triggerTime": a.trigger_ms, "goodTillDate": 0,
        }

    @staticmethod
    def algo_canceled(a: AlgoOrder) -> dict:
        return {"algoId": a.algo_id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}

    def trade(self, f: Fill) -> dict:
        return {"symbol": f.symbol, "id": f.trade_id, "orderId": f.order_id, "side": f.side,
                "price": self._px(f.symbol, f.price), "qty": self._qty(f.symbol, f.qty),
                "realizedPnl": _money(f.realized_pnl), "marginAsset": self.account.asset,
                "quoteQty": _money(f.price * f.qty), "commission": _money(f.fee),
                "commissionAsset": self.account.asset, "time": f.time_ms, "positionSide": "BOTH",
                "maker": f.maker, "buyer": f.side == "BUY"}

    def account_v3(self, now_ms: int) -> dict:
        """``GET /fapi/v3/account``."""
        acc = self.account
        held = [s for s, p in acc.positions.items() if p.amount]
        unrealized = sum((acc.unrealized(s) for s in held), Decimal(0))
        cross_pnl = sum((acc.unrealized(s) for s in held if not acc.positions[s].isolated), Decimal(0))
        position_im = sum((acc.position_margin(s) for s in held), Decimal(0))
        order_im = acc.open_order_margin()
        maint = sum((acc.maint_margin(s) for s in held), Decimal(0))
        available = acc.available()
        asset = {
            "asset": acc.asset, "walletBalance": _money(acc.wallet), "unrealizedProfit": _money(unrealized),
            "marginBalance": _money(acc.wallet + unrealized), "maintMargin": _money(maint),
            "initialMargin": _money(position_im + order_im), "positionInitialMargin": _money(position_im),
            "openOrderInitialMargin": _money(order_im), "crossWalletBalance": _money(acc.cross_wallet()),
            "crossUnPnl": _money(cross_pnl), "availableBalance": _money(available),
            "maxWithdrawAmount": _money(max(Decimal(0), min(available, acc.wallet))),
            "updateTime": acc.update_ms or now_ms,
        }
        positions = [{
            "symbol": s, "positionSide": "BOTH", "positionAmt": self._qty(s, acc.positions[s].amount),
            "unrealizedProfit": _money(acc.unrealized(s)), "isolatedMargin": _money(self._isolated_margin(s)),
            "notional": _money(acc.notional(s)), "isolatedWallet": _money(acc.positions[s].isolated_wallet),
            "initialMargin": _money(acc.position_margin(s)), "maintMargin": _money(acc.maint_margin(s)),
            "updateTime": acc.positions[s].update_ms} for s in held]
        return {
            "totalInitialMargin": asset["initialMargin"], "totalMaintMargin": asset["maintMargin"],
            "totalWalletBalance": asset["walletBalance"], "totalUnrealizedProfit": asset["unrealizedProfit"],
            "totalMarginBalance": asset["marginBalance"], "totalPositionInitialMargin": _money(position_im),
            "totalOpenOrderInitialMargin": _money(order_im), "totalCrossWalletBalance": asset["crossWalletBalance"],
            "totalCrossUnPnl": asset["crossUnPnl"], "availableBalance": asset["availableBalance"],
            "maxWithdrawAmount": asset["maxWithdrawAmount"], "assets": [asset], "positions": positions,
        }

    def position_risk(self, symbol: str, v2: bool = False) -> dict:
        """One row of ``GET /fapi/v3/positionRisk`` (v2 adds leverage and margin type)."""
        acc, p = self.account, self.account.positions[symbol]
        mark = acc.mark(symbol)
        breakeven = p.entry * (1 + (1 if p.amount > 0 else -1) * 2 * acc.taker_fee) if p.amount else Decimal(0)
        row = {
            "symbol": symbol, "positionSide": "BOTH", "positionAmt": self._qty(symbol, p.amount),
            "entryPrice": self._px(symbol, p.entry), "breakEvenPrice": self._px(symbol, breakeven),
            "markPrice": _money(mark), "unRealizedProfit": _money(acc.unrealized(symbol)),
            "liquidationPrice": _money(acc.liquidation_price(symbol)),
            "isolatedMargin": _money(self._isolated_margin(symbol)), "notional": _money(acc.notional(symbol)),
            "marginAsset": acc.asset, "isolatedWallet": _money(p.isolated_wallet),
            "initialMargin": _money(acc.position_margin(symbol)), "maintMargin": _money(acc.maint_margin(symbol)),
            "positionInitialMargin": _money(acc.position_margin(symbol)),
            "openOrderInitialMargin": _money(acc.open_order_margin(symbol)), "adl": 0,
            "bidNotional": "0", "askNotional": "0", "updateTime": p.update_ms,
        }
        if v2:
            row.update({"leverage": str(p.leverage), "marginType": "isolated" if p.isolated else "cross",
                        "isAutoAddMargin": "false", "maxNotionalValue": "1000000"})
        return row

    def symbol_config(self, symbol: str) -> dict:
        p = self.account.positions[symbol]
        return {"symbol": symbol, "marginType": "ISOLATED" if p.isolated else "CROSSED",
                "isAutoAddMargin": False, "leverage": p.leverage, "maxNotionalValue": "1000000"}

    def income(self, i) -> dict:
        """One row of ``GET /fapi/v1/income``."""
        return {"symbol": i.symbol, "incomeType": i.kind, "income": _money(i.amount), "asset": self.account.asset,
                "info": i.kind, "time": i.time_ms, "tranId": i.tran_id, "tradeId": ""}

    def _isolated_margin(self, symbol: str) -> Decimal:
        p = self.account.positions[symbol]
        return p.isolated_wallet + self.account.unrealized(symbol) if p.isolated else Decimal(0)

    # --- user-data stream ------------------------------------------------------------------------

    def event(self, e: Event) -> dict:
        if e.kind == "order":
            return {"e": "ORDER_TRADE_UPDATE", "E": e.time_ms, "T": e.time_ms, "o": self._order_update(e)}
        if e.kind == "algo":
            return {"e": "ALGO_UPDATE", "E": e.time_ms, "T": e.time_ms, "o": self._algo_update(e.order)}
        return self._account_update(e)

    def _order_update(self, e: Event) -> dict:
        o, f = e.order, e.fill
        execution = "TRADE" if f else {"CANCELED": "CANCELED", "EXPIRED": "EXPIRED"}.get(o.status, "NEW")
        update = {
            "s": o.symbol, "c": o.client_id, "S": o.side, "o": o.type, "f": o.time_in_force,
            "q": self._qty(o.symbol, o.qty), "p": self._px(o.symbol, o.price),
            "ap": self._px(o.symbol, o.avg_price), "sp": self._px(o.symbol, o.stop_price), "x": execution,
            "X": o.status, "i": o.order_id, "l": self._qty(o.symbol, f.qty if f else Decimal(0)),
            "z": self._qty(o.symbol, o.executed), "L": self._px(o.symbol, f.price if f else Decimal(0)),
            "T": e.time_ms, "t": f.trade_id if f else 0, "b": "0", "a": "0", "m": bool(f and f.maker),
            "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": o.orig_type or o.type, "ps": "BOTH", "cp": False,
            "rp": _money(f.realized_pnl if f else Decimal(0)), "pP": False, "si": 0, "ss": 0,
            "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0,
        }
        if f:
            update.update({"N": self.account.asset, "n": _money(f.fee)})
        return update

    def _algo_update(self, a: AlgoOrder) -> dict:
        return {
            "caid": a.client_id, "aid": a.algo_id, "at": "CONDITIONAL", "o": a.type, "s": a.symbol, "S": a.side,
            "ps": "BOTH", "f": "GTC", "q": self._qty(a.symbol, a.qty), "X": a.status,
            "ai": str(a.actual_order_id or ""), "ap": self._px(a.symbol, a.fill_price),
            "aq": self._qty(a.symbol, a.filled), "act": "MARKET" if a.actual_order_id else "0",
            "tp": self._px(a.symbol, a.trigger), "p": self._px(a.symbol, Decimal(0)), "V": "EXPIRE_MAKER",
            "wt": "CONTRACT_PRICE", "pm": "NONE", "cp": a.close_position, "pP": False, "R": a.reduce_only,
            "tt": a.trigger_ms, "gtd": 0, "rm": a.reason,
        }

    def _account_update(self, e: Event) -> dict:
        acc = self.account
        positions = [{
            "s": s, "pa": self._qty(s, acc.positions[s].amount), "ep": self._px(s, acc.positions[s].entry),
            "bep": self._px(s, acc.positions[s].entry), "cr": "0", "up": _money(acc.unrealized(s)),
            "mt": "isolated" if acc.positions[s].isolated else "cross",
            "iw": _money(acc.positions[s].isolated_wallet), "ps": "BOTH"} for s in e.symbols]
        return {"e": "ACCOUNT_UPDATE", "E": e.time_ms, "T": e.time_ms, "a": {
            "m": e.reason, "B": [{"a": acc.asset, "wb": _money(acc.wallet), "cw": _money(acc.cross_wallet()),
                                  "bc": "0"}], "P": positions}}
