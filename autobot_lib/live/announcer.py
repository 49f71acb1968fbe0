"""What the running bot tells its people: the AUTOBOT seed's events and the Donchian bot's schedule.

The :class:`Announcer` watches a session from outside the engine (it reads the decisions of each bar,
the trades the engine booked, the positions it holds and the feed's reconnects) and sends
:class:`~autobot_lib.notify.alerts.Alert` values to the notifier, whose priorities, rate limits and dedupe
decide what reaches Telegram and Slack:

- system status: start-up and shutdown (INFO), the kill switch (the engine's own CRITICAL alert);
- trades: each entry filled (MEDIUM), each exit with its PnL and R (MEDIUM), each stop moved (LOW);
- warnings: vetoed entries (LOW), the market-data connection lost and restored (HIGH);
- the schedule (:class:`~autobot_lib.live.watch.Watch`, knobs from the settings): a heartbeat every
  12 h, a missing-heartbeat alarm at 18 h, sustained clock drift, error bursts, signals without trades;
- the day's drawdown past DAILY_DD_LIMIT (HIGH: the kill switch halts at DAILY_LOSS_LIMIT), and with
  DAILY_REPORT_ENABLED the day's trading summary after every exit (the Donchian bot's Slack summary).
"""

from __future__ import annotations

import time
from typing import Callable

from autobot_lib.live.watch import Watch, WatchKnobs
from autobot_lib.notify.alerts import Alert, Priority


class Announcer:
    def __init__(self, session, notify: Callable[[Alert], None], knobs: WatchKnobs, *, daily_dd_limit: float = 1.0,
                 daily_report: bool = False, clock: Callable[[], float] = time.time):
        self.session, self.notify, self.clock = session, notify, clock
        self.watch = Watch(knobs, clock())
        self.daily_dd_limit, self.daily_report = daily_dd_limit, daily_report
        self._trades_seen = 0
        self._reconnects_seen = 0

    @classmethod
    def from_settings(cls, session, notify: Callable[[Alert], None], settings, **kwargs) -> Announcer:
        return cls(session, notify, WatchKnobs.from_settings(settings), daily_dd_limit=settings.DAILY_DD_LIMIT,
                   daily_report=settings.DAILY_REPORT_ENABLED, **kwargs)

    # --- the engine's own alerts pass through here (alert_sink) ------------------------------------------
    def engine_alert(self, key: str) -> None:
        if key.startswith("order_error"):
            self.watch.order_error(key.split(":", 1)[-1], self.clock())

    # --- events --------------------------------------------------------------------------------------
    def started(self, mode: str) -> None:
        view = self.session.engine.status
        held = ", ".join(f"{s} {h.position.side.value} {h.position.qty}" for s, h in view.positions.items()) or "none"
        self.notify(Alert(Priority.INFO, "startup", f"AUTOBOT started ({mode})",
                          f"symbols {', '.join(view.symbols)}; state {view.trading_state.value}; "
                          f"positions {held}"))

    def stopped(self, why: str) -> None:
        view = self.session.engine.status
        self.notify(Alert(Priority.INFO, "shutdown", "AUTOBOT stopped",
                          f"{why}; {len(view.positions)} position(s) left with their stops on the exchange; "
                          f"{self.session.decided} bar(s) decided"))

    def after_bars(self, decisions) -> None:
        """One bar's decisions, executed: entries filled, stops moved, vetoes, exits booked."""
        view, now = self.session.engine.status, self.clock()
        self.watch.loop_beat(now)
        for d in decisions:
            r = d.record
            if r.proposal != "NEUTRAL":
                self.watch.signal(now)
            held = view.positions.get(r.symbol)
            if r.outcome == "order" and held is not None and held.entry_ms:
                self.watch.trade(now)
                p = held.position
                self.notify(Alert(Priority.MEDIUM, f"entry:{r.symbol}", f"Entry: {r.symbol} {p.side.value}",
                                  f"{p.qty} at {p.first_entry_price}; stop {p.stop}"
                                  + (f", target {p.take_profit}" if p.take_profit is not None else "")
                                  + (f" ({r.intents[0]['reason']})" if r.intents else "")))
            elif r.outcome.startswith("veto:"):
                self.notify(Alert(Priority.LOW, f"veto:{r.symbol}", f"Vetoed: {r.symbol} {r.proposal}",
                                  r.outcome.split(":", 1)[1]))
            stop = next((i for i in r.intents if i["kind"] == "STOP"), None)
            if stop is not None and held is not None:
                self.notify(Alert(Priority.LOW, f"stop:{r.symbol}", f"Stop moved: {r.symbol}",
                                  f"{stop['reason']}: {stop['stop_price']} for {stop['qty']}"))
        self._exits()

    def _exits(self) -> None:
        trades = self.session.engine.status.trades
        new = trades[self._trades_seen:] if len(trades) >= self._trades_seen else trades
        for t in new:
            self.notify(Alert(Priority.MEDIUM, f"exit:{t.symbol}", f"Exit: {t.symbol} {t.side} ({t.exit_reason})",
                              f"{t.qty} from {t.entry_price} to {t.exit_price}: PnL {t.pnl:,.2f} ({t.r_multiple:+.2f} R)"))
        self._trades_seen = len(trades)
        if new and self.daily_report:
            self.notify(daily_summary(trades, new[-1].exit_time, self.session.engine.status.daily_anchor))

    # --- the schedule, on every heartbeat of the session ------------------------------------------------
    def tick(self) -> None:
        view, feed, now = self.session.engine.status, self.session.feed, self.clock()
        self._exits()                                   # closed by hand or by reconciliation between bars
        if feed.reconnects > self._reconnects_seen:
            self.notify(Alert(Priority.HIGH, "connection", "Market data connection lost",
                              f"{feed.reconnects} reconnect(s) so far; bars missed meanwhile are fetched over REST"))
            self._reconnects_seen = feed.reconnects
        self.watch.clock_drift(view.drift_ms)
        equity, anchor = view.last_equity, view.daily_anchor
        drawdown = 1.0 - equity / anchor if anchor > 0 else 0.0
        if drawdown >= self.daily_dd_limit:
            self.notify(Alert(Priority.HIGH, "daily_drawdown", f"Daily drawdown {drawdown:.2%} (DAILY_DD_LIMIT "
                              f"{self.daily_dd_limit:.2%})", f"equity {equity:,.2f} against "
                              f"{anchor:,.2f} at the day's first close"))
        status = f"equity {equity:,.2f}; {len(view.positions)} position(s); {view.trading_state.value}"
        for alert in self.watch.check(now, status):
            self.notify(alert)


def daily_summary(trades, when, anchor: float) -> Alert:
    """The day's closed trades (the UTC day of ``when``) as the Donchian bot's summary: trades, wins and
    losses, win rate, profit factor, net PnL and its share of the day's opening equity."""
    day = [t for t in trades if t.exit_time.floor("D") == when.floor("D")]
    pnl = [t.pnl for t in day if t.pnl == t.pnl]
    wins, losses = [x for x in pnl if x > 0], [x for x in pnl if x < 0]
    factor = sum(wins) / -sum(losses) if losses else float("inf") if wins else float("nan")
    share = f" ({sum(pnl) / anchor:+.2%})" if anchor > 0 else ""
    return Alert(Priority.INFO, f"daily_summary:{when:%Y-%m-%d}:{len(day)}", f"Daily summary {when:%Y-%m-%d}",
                 f"{len(day)} trade(s), {len(wins)} won, {len(losses)} lost, win rate "
                 f"{len(wins) / len(pnl) if pnl else 0:.0%}, profit factor {factor:.2f}, net {sum(pnl):,.2f}{share}")
