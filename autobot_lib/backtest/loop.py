"""The backtester's bar loop, compiled: a USD-M account around :func:`autobot_lib.risk.kernel.decide_bar`.

Per bar of the shared timeline and per symbol with a bar there (in symbol order):
1. at the first bar of a UTC day the daily anchor becomes the equity (daily loss limit);
2. funding settlements since the previous bar are charged or paid on the open position (at the bar's
   open as mark price);
3. the order decided on the previous bar fills at this open (a market entry or exit), with slippage and
   the taker fee;
4. an isolated position whose bar reaches its liquidation price before its stop is liquidated there,
   with the liquidation fee;
5. the decision runs: stops and targets fill inside the bar, the position is managed, an entry or a
   market exit is queued for the next open;
then equity, balance, margin and drawdown are marked at the close.

Everything the decision saw and said is written to the journal arrays (columns :data:`JI` and
:data:`JF`; the rows of ``events`` are its fills inside bars: exits as (reason, qty, price), then adds as
(qty, price, level)), so the journal, and a bar-by-bar replay through :func:`autobot_lib.pipeline.decide`,
come from them.
"""

from __future__ import annotations

import math

import numpy as np

from autobot_lib import _numba_cache
from autobot_lib._jit import njit
from autobot_lib.backtest import costs as _costs
from autobot_lib.backtest.costs import funding_paid, liquidation_level, slipped_price
from autobot_lib.risk import kernel as _kernel
from autobot_lib.risk.kernel import EXIT_REASONS, IN_POSITION, ORDER, decide_bar, units_to_qty

_numba_cache.drop_stale(__file__, _kernel.__file__, _costs.__file__)  # the loop inlines their code

END_OF_DATA = len(EXIT_REASONS)          # exit reason code after ExitReason's
LIQUIDATION = EXIT_REASONS.index("liquidation")
_TP, _TP_LADDER = EXIT_REASONS.index("take_profit"), EXIT_REASONS.index("tp_ladder")
_DAY_NS = 86_400 * 10**9

# journal columns: integers (JI) and floats (JF) per bar and symbol
JI = ("outcome", "gate", "vetoes", "sized", "units", "capped_by", "size_reason", "close_reason", "stop_moved",
      "closed", "n_exits", "n_adds", "first_event")
JF = ("raw_qty", "notional", "risk", "stop_distance", "equity", "available", "peak", "anchor", "n_positions")
POSITION_FIELDS = 13                     # a kernel position tuple; stored before and after the decision
JF_BEFORE = len(JF)
JF_AFTER = JF_BEFORE + POSITION_FIELDS
JF_WIDTH = JF_AFTER + POSITION_FIELDS
# trades: integers and floats
TI = ("symbol", "sign", "entry_time", "exit_time", "exit_reason", "entry_bar", "bars_held")
TF = ("entry_price", "initial_stop", "exit_price", "qty", "notional", "fees", "funding", "pnl", "r_multiple",
      "mae_r", "mfe_r", "entry_regime")
# per-symbol bookkeeping around the open position
_MARGIN, _FEES, _LIQ, _FUNDING, _REALIZED, _EXIT_VALUE, _EXIT_QTY, _MAX_QTY, _MAE, _MFE, _REGIME = range(11)
_ENTRY_T, _ENTRY_BAR = range(2)


@njit(cache=True, inline="always")
def _as_tuple(row):
    return (np.int64(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], np.int64(row[8]),
            row[9] != 0.0, np.int64(row[10]), np.int64(row[11]), row[12])


@njit(cache=True, inline="always")
def _store(row, pos):
    row[0], row[1], row[2], row[3], row[4], row[5], row[6] = pos[0], pos[1], pos[2], pos[3], pos[4], pos[5], pos[6]
    row[7], row[8], row[9], row[10], row[11], row[12] = pos[7], pos[8], pos[9], pos[10], pos[11], pos[12]


@njit(cache=True, inline="always")
def _equity(balance, hp, last_close):
    total = balance
    for s in range(hp.shape[0]):
        if hp[s, 0] != 0.0:
            total += hp[s, 0] * hp[s, 1] * (last_close[s] - hp[s, 2])
    return total


@njit(cache=True)
def _exit(s, qty, price, reason, t, fee_rate, account, hp, hf, hi, tf, ti, n_trades):
    """Close ``qty`` of symbol ``s``'s position at ``price``; a full close writes the trade. Returns the
    trade count."""
    sign = hp[s, 0]
    gross = sign * qty * (price - hp[s, 2])
    fee = qty * price * fee_rate
    account[0] += gross - fee
    hf[s, _REALIZED] += gross
    hf[s, _FEES] += fee
    hf[s, _EXIT_VALUE] += qty * price
    hf[s, _EXIT_QTY] += qty
    remaining = hp[s, 1] - qty
    if remaining > hp[s, 7] * 1e-9:
        hf[s, _MARGIN] *= remaining / hp[s, 1]
        hp[s, 1] = remaining
        return n_trades
    rpu, first = hp[s, 5], hp[s, 12]
    risk = rpu * hp[s, 7]
    pnl = hf[s, _REALIZED] - hf[s, _FEES] - hf[s, _FUNDING]
    n = n_trades
    ti[n, 0], ti[n, 1], ti[n, 2], ti[n, 3] = s, np.int64(sign), hi[s, _ENTRY_T], t
    ti[n, 4], ti[n, 5], ti[n, 6] = reason, hi[s, _ENTRY_BAR], np.int64(hp[s, 8])
    tf[n, 0], tf[n, 1], tf[n, 2] = first, first - sign * rpu, hf[s, _EXIT_VALUE] / hf[s, _EXIT_QTY]
    tf[n, 3], tf[n, 4], tf[n, 5] = hf[s, _MAX_QTY], hf[s, _MAX_QTY] * first, hf[s, _FEES]
    tf[n, 6], tf[n, 7] = hf[s, _FUNDING], pnl
    tf[n, 8] = pnl / risk if risk else math.nan
    tf[n, 9] = -hf[s, _MAE] / rpu if rpu else math.nan
    tf[n, 10] = hf[s, _MFE] / rpu if rpu else math.nan
    tf[n, 11] = hf[s, _REGIME]
    hp[s, 0] = 0.0
    return n + 1


@njit(cache=True)
def simulate(t_ns, has, o_, h_, l_, c_, atr_, adx_, adx_prev_, regime_, age_, exit_upper_, exit_lower_,
             direction_, proposal_, funding_t, funding_rate, funding_start, filters, costs, equity0, bar_ns, start,
             p, exits, adds, marks, ji, jf, events, tf, ti):
    """Run the whole timeline. Arrays indexed [bar, symbol]; ``filters`` rows: step, 1/step (0 if not
    whole), min qty, min notional; ``costs``: taker, maker, slippage bps, slippage ATR share, take
    profits as maker (0/1), liquidation fee, maintenance margin rate. Returns (trades, events)."""
    n_bars, n_sym = has.shape
    taker, maker, slip_bps, slip_atr, tp_maker, liq_fee, mmr = costs
    leverage = p.leverage
    account = np.array([equity0, equity0, equity0])            # balance, peak, daily anchor
    anchor_day = np.int64(-1)
    hp = np.zeros((n_sym, POSITION_FIELDS))                     # the open position, as a kernel tuple
    hf = np.zeros((n_sym, 11))
    hi = np.zeros((n_sym, 2), dtype=np.int64)
    last_close = np.full(n_sym, math.nan)
    funding_at = funding_start[:-1].copy()
    pend_kind = np.zeros(n_sym, dtype=np.int64)                 # 0 none, 1 entry, 2 market exit
    pend_sign = np.zeros(n_sym, dtype=np.int64)
    pend_qty = np.zeros(n_sym)
    pend_atr = np.zeros(n_sym)
    pend_regime = np.zeros(n_sym)
    pend_reason = np.zeros(n_sym, dtype=np.int64)
    pend_bar = np.zeros(n_sym, dtype=np.int64)
    n_trades = 0
    n_events = 0
    ji[:start, :, 0] = -1
    for u in range(start, n_bars):
        t = t_ns[u]
        for s in range(n_sym):
            if not has[u, s]:
                ji[u, s, 0] = -1
                continue
            o, h, l, c = o_[u, s], h_[u, s], l_[u, s], c_[u, s]
            day = t // _DAY_NS
            if day != anchor_day:
                anchor_day = day
                account[2] = _equity(account[0], hp, last_close)
            # 2. funding settlements in (previous bar open, this bar open]
            f = funding_at[s]
            while f < funding_start[s + 1] and funding_t[f] <= t:
                if hp[s, 0] != 0.0 and funding_t[f] > hi[s, _ENTRY_T]:
                    pay = funding_paid(hp[s, 0], hp[s, 1], o, funding_rate[f])
                    account[0] -= pay
                    hf[s, _FUNDING] += pay
                f += 1
            funding_at[s] = f
            # 3. the previous bar's market order fills at this open
            if pend_kind[s] == 2 and hp[s, 0] != 0.0:
                fill = slipped_price(hp[s, 0], o, pend_atr[s], False, slip_bps, slip_atr)
                n_trades = _exit(s, hp[s, 1], fill, pend_reason[s], t, taker, account, hp, hf, hi, tf, ti, n_trades)
            elif pend_kind[s] == 1 and hp[s, 0] == 0.0:
                side, entry_atr, qty = pend_sign[s], pend_atr[s], pend_qty[s]
                fill = slipped_price(side, o, entry_atr, True, slip_bps, slip_atr)
                distance = entry_atr * p.stop_atr_k
                tp = fill + side * distance * p.take_profit_r      # NaN when there is no fixed target
                _store(hp[s], (side, qty, fill, fill - side * distance, tp, distance, entry_atr, qty, 0, 0.0, 0, 0, fill))
                notional = qty * fill
                account[0] -= notional * taker
                hf[s, :] = 0.0
                hf[s, _MARGIN] = notional / leverage
                hf[s, _FEES] = notional * taker
                hf[s, _LIQ] = liquidation_level(side, fill, leverage, mmr)
                hf[s, _MAX_QTY] = qty
                hf[s, _REGIME] = pend_regime[s]
                hi[s, _ENTRY_T] = t
                hi[s, _ENTRY_BAR] = pend_bar[s]
            pend_kind[s] = 0
            last_close[s] = c
            # 4. excursions and liquidation
            if hp[s, 0] != 0.0:
                held_sign, first = hp[s, 0], hp[s, 12]
                hf[s, _MFE] = max(hf[s, _MFE], held_sign * ((h if held_sign > 0 else l) - first))
                hf[s, _MAE] = min(hf[s, _MAE], held_sign * ((l if held_sign > 0 else h) - first))
                liq = hf[s, _LIQ]
                stop_protects = held_sign * (hp[s, 3] - liq) > 0
                if held_sign * ((l if held_sign > 0 else h) - liq) <= 0 and \
                        (not stop_protects or held_sign * (o - liq) <= 0):
                    n_trades = _exit(s, hp[s, 1], liq, LIQUIDATION, t, liq_fee, account, hp, hf, hi, tf, ti, n_trades)
            # 5. the decision
            equity = _equity(account[0], hp, last_close)
            margin, n_pos = 0.0, 0
            for k in range(n_sym):
                if hp[k, 0] != 0.0:
                    margin += hf[k, _MARGIN]
                    n_pos += 1
            atr = atr_[u, s]
            step, scale = filters[s, 0], filters[s, 1]
            before = _as_tuple(hp[s])
            outcome, gate, vetoes, sized, size, after, n_exits, n_adds, moved, close_reason, closed = decide_bar(
                before, o, h, l, c, atr, adx_[u, s], adx_prev_[u, s], regime_[u, s], age_[u, s], exit_upper_[u, s],
                exit_lower_[u, s], direction_[u, s], proposal_[u, s], equity, account[0] - margin, account[1],
                account[2], 0, n_pos, False, t + bar_ns, step, scale, filters[s, 2], filters[s, 3], p, exits, adds)
            row, frow = ji[u, s], jf[u, s]
            row[0], row[1], row[2], row[3], row[4], row[5], row[6] = outcome, gate, vetoes, sized, size[0], size[5], size[6]
            row[7], row[8], row[9], row[10], row[11], row[12] = close_reason, moved, closed, n_exits, n_adds, n_events
            frow[0], frow[1], frow[2], frow[3] = size[1], size[2], size[3], size[4]
            frow[4], frow[5], frow[6], frow[7], frow[8] = equity, account[0] - margin, account[1], account[2], n_pos
            if outcome == IN_POSITION:
                _store(frow[JF_BEFORE:JF_AFTER], before)
                _store(frow[JF_AFTER:], after)
                sign = before[0]
                for k in range(n_exits):
                    events[n_events, 0], events[n_events, 1], events[n_events, 2] = exits[k, 0], exits[k, 1], exits[k, 2]
                    n_events += 1
                for k in range(n_adds):
                    events[n_events, 0], events[n_events, 1], events[n_events, 2] = adds[k, 0], adds[k, 1], adds[k, 2]
                    n_events += 1
                for k in range(n_exits):
                    reason = np.int64(exits[k, 0])
                    as_maker = tp_maker != 0 and (reason == _TP or reason == _TP_LADDER)
                    price = exits[k, 2] if as_maker else slipped_price(sign, exits[k, 2], atr, False, slip_bps, slip_atr)
                    n_trades = _exit(s, exits[k, 1], price, reason, t, maker if as_maker else taker, account, hp, hf,
                                     hi, tf, ti, n_trades)
                    if hp[s, 0] == 0.0:
                        break
                if not closed and hp[s, 0] != 0.0:
                    for k in range(n_adds):
                        fill = slipped_price(sign, adds[k, 1], atr, True, slip_bps, slip_atr)
                        fee = adds[k, 0] * fill * taker
                        account[0] -= fee
                        hf[s, _FEES] += fee
                        hf[s, _MARGIN] += adds[k, 0] * fill / leverage
                    _store(hp[s], after)       # its qty already counts this bar's partial exits and adds
                    hf[s, _MAX_QTY] = max(hf[s, _MAX_QTY], after[1])
                if close_reason >= 0:
                    pend_kind[s], pend_reason[s], pend_atr[s] = 2, close_reason, atr
            elif outcome == ORDER:
                pend_kind[s], pend_sign[s], pend_qty[s] = 1, proposal_[u, s], units_to_qty(size[0], step, scale)
                pend_atr[s], pend_regime[s], pend_bar[s] = atr, regime_[u, s], u
        _mark(account, hp, hf, last_close, marks[u])
    # what is still open closes at its symbol's last close, so every trade is complete
    for s in range(n_sym):
        if hp[s, 0] != 0.0:
            last = n_bars - 1
            while not has[last, s]:
                last -= 1
            n_trades = _exit(s, hp[s, 1], last_close[s], END_OF_DATA, t_ns[last], taker, account, hp, hf, hi, tf, ti,
                             n_trades)
    if n_bars:
        _mark(account, hp, hf, last_close, marks[n_bars - 1])
    return n_trades, n_events


@njit(cache=True, inline="always")
def _mark(account, hp, hf, last_close, out):
    """Equity, balance, margin and drawdown at the close into ``out``; the equity peak follows."""
    equity = _equity(account[0], hp, last_close)
    margin = 0.0
    for s in range(hp.shape[0]):
        if hp[s, 0] != 0.0:
            margin += hf[s, _MARGIN]
    account[1] = max(account[1], equity)
    out[0], out[1], out[2] = equity, account[0], margin
    out[3] = 1.0 - equity / account[1] if account[1] > 0 else 0.0
