"""The backtester's bar loop, compiled: a USD-M account around :func:`autobot_lib.risk.kernel.decide_bar`.

The fill model is the one the paper broker and the local venue follow (``docs/fill-model.md``). Per bar
of the shared timeline:

1. per symbol with a bar there (in symbol order): the market orders decided at the previous close fill
   at this open (entries, pyramid adds, market exits), with slippage and the taker fee; an isolated
   position whose bar reaches its liquidation price before its stop is liquidated there, with the
   liquidation fee; then the standing stop and targets fill inside the bar
   (:func:`~autobot_lib.risk.kernel.bar_fills`: the adverse extreme first); the trade's excursions count
   the bar up to its last fill (:func:`~autobot_lib.risk.kernel.bar_excursions`);
2. funding settlements that fall due by this close, ``(open, close]``, are charged or paid on the
   positions held then, at the close as mark price;
3. the account at the close, the same for every symbol's decision: equity, free margin, the equity
   peak, the daily anchor (the equity at the first close of a UTC day) and the trading state (the
   daily loss limit halts; :data:`REARM_NEXT_DAY` re-arms at the next UTC day, :data:`REARM_NEVER`
   never: the backtest's stand-in for the person who re-arms a live bot);
4. the decisions, each on the position held into the bar: the symbols holding one first (one liquidated
   inside the bar is recorded as such, with nothing to decide), then the flat ones, each group in symbol
   order; entries decided earlier in the bar count toward MAX_POSITIONS and the correlation veto (a flat
   symbol's returns against each held one's over CORRELATION_WINDOW bars), and
   the margin of the orders decided before is gone from what the later ones may use; the orders they send
   fill at the next open;
5. equity, balance, margin and drawdown are marked at the close.

Everything the decision saw and said is written to the journal arrays (columns :data:`JI` and
:data:`JF`; the rows of ``events`` are its fills inside bars: exits as (reason, qty, price), then adds as
(qty, price, level)), so the journal, and a bar-by-bar replay through :func:`autobot_lib.pipeline.decide`,
come from them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from autobot_lib import _numba_cache
from autobot_lib import model as _model
from autobot_lib._jit import njit
from autobot_lib.backtest import costs as _costs
from autobot_lib.backtest.costs import funding_paid, liquidation_level, slipped_price
from autobot_lib.risk import kernel as _kernel
from autobot_lib.risk import reasons as _reasons
from autobot_lib.risk.kernel import (
    EXIT_REASONS, HALTED, IN_POSITION, LIQUIDATION, NO_SIZE, ORDER, POSITION_FIELDS, SLOT, TAKE_PROFIT, TP_LADDER,
    Market, bar_excursions, bar_fills, decide_bar, next_trading_state, opened, order_cost, position_from_row,
    qty_units, return_correlation, store_position, units_to_qty,
)

# the loop inlines their code, and the reason codes the kernel takes from these
_numba_cache.drop_stale(__file__, _kernel.__file__, _costs.__file__, _reasons.__file__, _model.__file__)

END_OF_DATA = len(EXIT_REASONS)          # exit reason code after ExitReason's
_DAY_NS = 86_400 * 10**9
REARM_NEVER, REARM_NEXT_DAY = 0, 1

class JournalInts(NamedTuple):
    """A decision's integer journal columns, per bar and symbol, in column order."""

    outcome: int
    gate: int
    vetoes: int
    sized: int
    units: int
    capped_by: int
    size_reason: int
    close_reason: int
    stop_moved: int
    closed: int
    n_exits: int
    n_adds: int
    first_event: int
    trading_state: int


class JournalFloats(NamedTuple):
    """A decision's float journal columns, in column order; two kernel positions follow (:data:`JF_BEFORE`)."""

    raw_qty: int
    notional: int
    risk: int
    stop_distance: int
    equity: int
    available: int
    peak: int
    anchor: int
    n_positions: int


# each column's index by name: the loop writes and the engine reads through these, never by number
JI = JournalInts(*range(len(JournalInts._fields)))
JF = JournalFloats(*range(len(JournalFloats._fields)))
JF_BEFORE = len(JF)                      # a kernel position, stored before and after the decision
JF_AFTER = JF_BEFORE + POSITION_FIELDS
JF_WIDTH = JF_AFTER + POSITION_FIELDS
# trades: integers and floats
TI = ("symbol", "sign", "entry_time", "exit_time", "exit_reason", "entry_bar", "bars_held")
TF = ("entry_price", "initial_stop", "exit_price", "qty", "notional", "fees", "funding", "pnl", "r_multiple",
      "mae_r", "mfe_r", "entry_regime")
# per-symbol bookkeeping around the open position
_MARGIN, _FEES, _LIQ, _FUNDING, _REALIZED, _EXIT_VALUE, _EXIT_QTY, _MAX_QTY, _MAE, _MFE, _REGIME, _INITIAL_STOP = \
    range(12)
_ENTRY_T, _ENTRY_BAR = range(2)
# orders waiting for the next open
_NONE, _ENTRY, _EXIT, _ADD = range(4)


@njit(cache=True, inline="always")
def _market(row):
    return Market(row[0], row[1], row[2], row[3], row[4], row[5])


@njit(cache=True, inline="always")
def _equity(balance, hp, last_close):
    total = balance
    for s in range(hp.shape[0]):
        if hp[s, SLOT.sign] != 0.0:
            total += hp[s, SLOT.sign] * hp[s, SLOT.qty] * (last_close[s] - hp[s, SLOT.entry])
    return total


@njit(cache=True)
def _correlated(u, s, c_, has, hp, pend_kind, pend_bar, p):
    """Do ``s``'s bar returns over the correlation window correlate beyond the threshold with those of a
    symbol held at this close (an entry decided earlier on this bar included)?"""
    first = max(0, u - p.correlation_window)
    own = np.full(u + 1 - first, math.nan)
    for k in range(first, u + 1):
        if has[k, s]:
            own[k - first] = c_[k, s]
    other = np.empty(u + 1 - first)
    for o in range(has.shape[1]):
        if o == s or not (hp[o, SLOT.sign] != 0.0 or (pend_kind[o] == _ENTRY and pend_bar[o] == u)):
            continue
        for k in range(first, u + 1):
            other[k - first] = c_[k, o] if has[k, o] else math.nan
        if abs(return_correlation(own, other)) >= p.correlation_threshold:
            return True
    return False


@njit(cache=True)
def _exit(s, qty, price, reason, t, fee_rate, account, hp, hf, hi, tf, ti, n_trades):
    """Close ``qty`` of symbol ``s``'s position at ``price``; a full close writes the trade. Returns the
    trade count."""
    sign = hp[s, SLOT.sign]
    gross = sign * qty * (price - hp[s, SLOT.entry])
    fee = qty * price * fee_rate
    account[0] += gross - fee
    hf[s, _REALIZED] += gross
    hf[s, _FEES] += fee
    hf[s, _EXIT_VALUE] += qty * price
    hf[s, _EXIT_QTY] += qty
    remaining = hp[s, SLOT.qty] - qty
    if remaining > hp[s, SLOT.initial_qty] * 1e-9:
        hf[s, _MARGIN] *= remaining / hp[s, SLOT.qty]
        hp[s, SLOT.qty] = remaining
        return n_trades
    rpu, first = hp[s, SLOT.risk_per_unit], hp[s, SLOT.first_entry]
    risk = rpu * hp[s, SLOT.initial_qty]
    pnl = hf[s, _REALIZED] - hf[s, _FEES] - hf[s, _FUNDING]
    n = n_trades
    ti[n, 0], ti[n, 1], ti[n, 2], ti[n, 3] = s, np.int64(sign), hi[s, _ENTRY_T], t
    ti[n, 4], ti[n, 5], ti[n, 6] = reason, hi[s, _ENTRY_BAR], np.int64(hp[s, SLOT.bars_held])
    tf[n, 0], tf[n, 1], tf[n, 2] = first, hf[s, _INITIAL_STOP], hf[s, _EXIT_VALUE] / hf[s, _EXIT_QTY]
    tf[n, 3], tf[n, 4], tf[n, 5] = hf[s, _MAX_QTY], hf[s, _MAX_QTY] * first, hf[s, _FEES]
    tf[n, 6], tf[n, 7] = hf[s, _FUNDING], pnl
    tf[n, 8] = pnl / risk if risk else math.nan
    tf[n, 9] = -hf[s, _MAE] / rpu if rpu else math.nan
    tf[n, 10] = hf[s, _MFE] / rpu if rpu else math.nan
    tf[n, 11] = hf[s, _REGIME]
    hp[s, SLOT.sign] = 0.0
    return n + 1


@njit(cache=True)
def simulate(t_ns, has, o_, h_, l_, c_, atr_, adx_, adx_prev_, regime_, age_, exit_upper_, exit_lower_,
             direction_, proposal_, funding_t, funding_rate, funding_start, markets, costs, equity0, bar_ns, start,
             rearm, p, exits, adds, marks, ji, jf, events, tf, ti):
    """Run the whole timeline. Arrays indexed [bar, symbol]; ``markets`` rows: a :class:`Market` (step,
    step scale, min qty, min notional, tick, tick scale); ``costs``: taker, maker, slippage bps, slippage
    ATR share, take profits as maker (0/1), liquidation fee, maintenance margin rate; ``rearm``:
    :data:`REARM_NEVER` or :data:`REARM_NEXT_DAY`. Returns (trades, events)."""
    n_bars, n_sym = has.shape
    taker, maker, slip_bps, slip_atr, tp_maker, liq_fee, mmr = costs
    leverage = p.leverage
    account = np.array([equity0, equity0, equity0])            # balance, peak, daily anchor
    anchor_day = np.int64(-1)
    state = np.int64(0)
    hp = np.zeros((n_sym, POSITION_FIELDS))                     # the position held, as a kernel position
    into = np.zeros((n_sym, POSITION_FIELDS))                   # ... as it was held into this bar
    hf = np.zeros((n_sym, 12))
    hi = np.zeros((n_sym, 2), dtype=np.int64)
    last_close = np.full(n_sym, math.nan)
    funding_at = funding_start[:-1].copy()
    pend_kind = np.zeros(n_sym, dtype=np.int64)
    pend_sign = np.zeros(n_sym, dtype=np.int64)
    pend_qty = np.zeros(n_sym)
    pend_atr = np.zeros(n_sym)
    pend_regime = np.zeros(n_sym)
    pend_reason = np.zeros(n_sym, dtype=np.int64)
    pend_bar = np.zeros(n_sym, dtype=np.int64)
    liquidated = np.zeros(n_sym, dtype=np.bool_)           # this bar, before the decision
    n_trades = 0
    n_events = 0
    for u in range(start, n_bars):
        t = t_ns[u]
        close_t = t + bar_ns
        # 1. the open's fills, liquidation, the standing orders inside the bar
        for s in range(n_sym):
            if not has[u, s]:        # no bar: its journal row is never read
                continue
            o, h, l, c = o_[u, s], h_[u, s], l_[u, s], c_[u, s]
            m = _market(markets[s])
            kind = pend_kind[s]
            pend_kind[s] = _NONE
            if kind == _EXIT and hp[s, SLOT.sign] != 0.0:
                fill = slipped_price(hp[s, SLOT.sign], o, pend_atr[s], False, slip_bps, slip_atr)
                n_trades = _exit(s, hp[s, SLOT.qty], fill, pend_reason[s], t, taker, account, hp, hf, hi, tf, ti,
                                 n_trades)
            elif kind == _ENTRY and hp[s, SLOT.sign] == 0.0:
                side, qty = pend_sign[s], pend_qty[s]
                fill = slipped_price(side, o, pend_atr[s], True, slip_bps, slip_atr)
                pos = opened(side, qty, fill, pend_atr[s], p, m)
                store_position(hp[s], pos)
                notional = qty * fill
                account[0] -= notional * taker
                hf[s, :] = 0.0
                hf[s, _MARGIN] = notional / leverage
                hf[s, _FEES] = notional * taker
                hf[s, _LIQ] = liquidation_level(side, fill, leverage, mmr)
                hf[s, _MAX_QTY] = qty
                hf[s, _REGIME] = pend_regime[s]
                hf[s, _INITIAL_STOP] = pos.stop
                hi[s, _ENTRY_T] = t
                hi[s, _ENTRY_BAR] = pend_bar[s]
            elif kind == _ADD and hp[s, SLOT.sign] != 0.0:
                sign, qty, add = hp[s, SLOT.sign], hp[s, SLOT.qty], pend_qty[s]
                fill = slipped_price(sign, o, pend_atr[s], True, slip_bps, slip_atr)
                fee = add * fill * taker
                account[0] -= fee
                hf[s, _FEES] += fee
                hf[s, _MARGIN] += add * fill / leverage
                hp[s, SLOT.entry] = (hp[s, SLOT.entry] * qty + fill * add) / (qty + add)
                hp[s, SLOT.qty] = units_to_qty(qty_units(qty, m) + qty_units(add, m), m.step, m.step_scale)
                hf[s, _MAX_QTY] = max(hf[s, _MAX_QTY], hp[s, SLOT.qty])
                hf[s, _LIQ] = liquidation_level(sign, hp[s, SLOT.entry], leverage, mmr)
            last_close[s] = c
            into[s, :] = hp[s, :]
            liquidated[s] = False
            if hp[s, SLOT.sign] != 0.0:
                sign, first = hp[s, SLOT.sign], hp[s, SLOT.first_entry]
                liq = hf[s, _LIQ]
                stop_protects = sign * (hp[s, SLOT.stop] - liq) > 0
                if sign * ((l if sign > 0 else h) - liq) <= 0 and (not stop_protects or sign * (o - liq) <= 0):
                    best, worst = bar_excursions(sign, first, o, h, l, 1, liq)
                    hf[s, _MFE], hf[s, _MAE] = max(hf[s, _MFE], best), min(hf[s, _MAE], worst)
                    liquidated[s] = True
                    n_trades = _exit(s, hp[s, SLOT.qty], liq, LIQUIDATION, t, liq_fee, account, hp, hf, hi, tf, ti,
                                     n_trades)
            if hp[s, SLOT.sign] != 0.0:
                _, n_exits, closed = bar_fills(position_from_row(hp[s]), o, h, l, p, m, exits)
                sign, first = hp[s, SLOT.sign], hp[s, SLOT.first_entry]
                ended = 0
                if closed:
                    last_reason = np.int64(exits[n_exits - 1, 0])
                    ended = 2 if last_reason == TAKE_PROFIT or last_reason == TP_LADDER else 1
                best, worst = bar_excursions(sign, first, o, h, l, ended, exits[n_exits - 1, 2] if closed else 0.0)
                hf[s, _MFE], hf[s, _MAE] = max(hf[s, _MFE], best), min(hf[s, _MAE], worst)
                for k in range(n_exits):
                    reason = np.int64(exits[k, 0])
                    as_maker = tp_maker != 0 and (reason == TAKE_PROFIT or reason == TP_LADDER)
                    price = exits[k, 2] if as_maker else slipped_price(sign, exits[k, 2], atr_[u, s], False, slip_bps,
                                                                       slip_atr)
                    n_trades = _exit(s, exits[k, 1], price, reason, t, maker if as_maker else taker, account, hp, hf,
                                     hi, tf, ti, n_trades)
                    if hp[s, SLOT.sign] == 0.0:
                        break
        # 2. funding that falls due by this close, on what is held then, at the close
        for s in range(n_sym):
            f = funding_at[s]
            while f < funding_start[s + 1] and funding_t[f] <= close_t:
                if hp[s, SLOT.sign] != 0.0 and funding_t[f] > hi[s, _ENTRY_T]:
                    pay = funding_paid(hp[s, SLOT.sign], hp[s, SLOT.qty], last_close[s], funding_rate[f])
                    account[0] -= pay
                    hf[s, _FUNDING] += pay
                f += 1
            funding_at[s] = f
        # 3. the account at the close
        equity = _equity(account[0], hp, last_close)
        margin, n_pos = 0.0, 0
        for s in range(n_sym):
            if hp[s, SLOT.sign] != 0.0:
                margin += hf[s, _MARGIN]
                n_pos += 1
        day = close_t // _DAY_NS
        if day != anchor_day:
            anchor_day = day
            account[2] = equity
            if state == HALTED and rearm == REARM_NEXT_DAY:
                state = np.int64(0)
        account[1] = max(account[1], equity)
        state = np.int64(next_trading_state(state, equity, account[2], p.daily_loss_limit))
        available = account[0] - margin
        # 4. the decisions: the positions held into the bar first, then the flat symbols (as the live engine)
        for j in range(2 * n_sym):
            s = j % n_sym
            if not has[u, s] or (into[s, SLOT.sign] != 0.0) != (j < n_sym):
                continue
            o, h, l, c = o_[u, s], h_[u, s], l_[u, s], c_[u, s]
            m = _market(markets[s])
            atr = atr_[u, s]
            before = position_from_row(into[s])
            if liquidated[s]:        # the exchange closed it inside the bar: nothing to decide, the fill recorded
                exits[0, 0], exits[0, 1], exits[0, 2] = LIQUIDATION, before.qty, hf[s, _LIQ]
                outcome, gate, vetoes, sized, size, after = IN_POSITION, 0, 0, False, NO_SIZE, before
                n_exits, n_adds, moved, close_reason, closed = 1, 0, False, -1, True
            else:
                correlated = before.sign == 0 and proposal_[u, s] != 0 and n_pos > 0 and \
                    _correlated(u, s, c_, has, hp, pend_kind, pend_bar, p)
                outcome, gate, vetoes, sized, size, after, n_exits, n_adds, moved, close_reason, closed = decide_bar(
                    before, o, h, l, c, atr, adx_[u, s], adx_prev_[u, s], regime_[u, s], age_[u, s],
                    exit_upper_[u, s], exit_lower_[u, s], direction_[u, s], proposal_[u, s], equity, available,
                    account[1], account[2], state, n_pos, correlated, close_t, m, p, exits, adds)
            row, frow = ji[u, s], jf[u, s]
            row[JI.outcome], row[JI.gate], row[JI.vetoes], row[JI.sized] = outcome, gate, vetoes, sized
            row[JI.units], row[JI.capped_by], row[JI.size_reason] = size[0], size[5], size[6]
            row[JI.close_reason], row[JI.stop_moved], row[JI.closed] = close_reason, moved, closed
            row[JI.n_exits], row[JI.n_adds], row[JI.first_event] = n_exits, n_adds, n_events
            row[JI.trading_state] = state
            frow[JF.raw_qty], frow[JF.notional], frow[JF.risk] = size[1], size[2], size[3]
            frow[JF.stop_distance], frow[JF.equity], frow[JF.available] = size[4], equity, available
            frow[JF.peak], frow[JF.anchor], frow[JF.n_positions] = account[1], account[2], n_pos
            if outcome == IN_POSITION:
                store_position(frow[JF_BEFORE:JF_AFTER], before)
                store_position(frow[JF_AFTER:], after)
                for k in range(n_exits):
                    events[n_events, 0], events[n_events, 1], events[n_events, 2] = exits[k, 0], exits[k, 1], exits[k, 2]
                    n_events += 1
                added = 0.0
                for k in range(n_adds):
                    events[n_events, 0], events[n_events, 1], events[n_events, 2] = adds[k, 0], adds[k, 1], adds[k, 2]
                    n_events += 1
                    added += adds[k, 0]
                    available -= order_cost(adds[k, 0] * adds[k, 1], p)
                if not closed and hp[s, SLOT.sign] != 0.0:
                    # the kernel's position for the next bar; the adds join it when they fill at the next open
                    entry = hp[s, SLOT.entry]
                    store_position(hp[s], after)
                    hp[s, SLOT.entry] = entry
                    hp[s, SLOT.qty] = units_to_qty(qty_units(after.qty, m) - qty_units(added, m), m.step, m.step_scale)
                    if n_adds:
                        pend_kind[s], pend_qty[s], pend_atr[s] = _ADD, added, atr
                    elif close_reason >= 0:
                        pend_kind[s], pend_reason[s], pend_atr[s] = _EXIT, close_reason, atr
            elif outcome == ORDER:
                pend_kind[s], pend_sign[s], pend_qty[s] = _ENTRY, proposal_[u, s], units_to_qty(size[0], m.step,
                                                                                               m.step_scale)
                pend_atr[s], pend_regime[s], pend_bar[s] = atr, regime_[u, s], u
                n_pos += 1
                available -= order_cost(size[2], p)
        # 5. marks at the close
        marks[u, 0], marks[u, 1], marks[u, 2] = equity, account[0], margin
        marks[u, 3] = 1.0 - equity / account[1] if account[1] > 0 else 0.0
    # what is still open closes at its symbol's last close, so every trade is complete
    for s in range(n_sym):
        if hp[s, SLOT.sign] != 0.0:
            last = n_bars - 1
            while not has[last, s]:
                last -= 1
            n_trades = _exit(s, hp[s, SLOT.qty], last_close[s], END_OF_DATA, t_ns[last], taker, account, hp, hf, hi,
                             tf, ti, n_trades)
    if n_bars:
        equity = account[0]
        account[1] = max(account[1], equity)
        marks[n_bars - 1, 0], marks[n_bars - 1, 1], marks[n_bars - 1, 2] = equity, account[0], 0.0
        marks[n_bars - 1, 3] = 1.0 - equity / account[1] if account[1] > 0 else 0.0
    return n_trades, n_events
