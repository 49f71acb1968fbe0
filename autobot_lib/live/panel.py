"""The live-session notebook's panel: controls and a view over one running session, in the kernel's loop.

Controls (ipywidgets): mode (DRY_RUN / TESTNET / LIVE, LIVE only with its confirmation ticked), venue
(the local venue, started here on real or embedded bars, or Binance), symbols, timeframe, risk per
trade, leverage, activation threshold, long/short switches; Start, Pause, Resume, Flatten all, Kill
switch and Re-arm buttons. The buttons call the engine's control commands, the same ones the CLI,
Telegram and the MCP server reach.

View, refreshed after every bar: candles with entries, exits and stops (a plotly FigureWidget), equity and
drawdown, positions and open protective orders, the last journal rows and the signal funnel, the alert
log, and the connection and heartbeat line. :meth:`LivePanel.run` runs a bounded session (papermill,
nbval); :meth:`LivePanel.start` runs one in the background while the notebook stays usable.
"""

from __future__ import annotations

import asyncio
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from autobot_lib.config import load_settings
from autobot_lib.journal import funnel, journal_frame
from autobot_lib.live.control import Actor, Control

MODES = {"DRY_RUN": "dry-run", "TESTNET": "testnet", "LIVE": "live"}
_KEEP = 300                  # bars shown


def start_local_venue(symbols: list[str], timeframe: str = "1h", *, data_dir: str | None = None,
                      speed: float = 5.0, bars: int = 3000):
    """A local Binance-compatible venue on 127.0.0.1 replaying ``symbols`` (files in ``data_dir``, else the
    embedded default market) from 1,000 bars in, at ``speed`` bars per second; ``stop()`` it after."""
    from autobot_lib.data import market_data
    from autobot_lib.exchange.venue import DEMO_API_KEY, DEMO_API_SECRET, MarketBook, VenueServer

    book = MarketBook("usdm")
    for symbol, frame in market_data(symbols, timeframe, data_dir=data_dir, bars=bars).items():
        book.add_bars(symbol, frame.iloc[-bars:], timeframe)
    book.rate_limit_scale = 1000.0           # hours replayed in seconds
    server = VenueServer(usdm=book, api_keys={DEMO_API_KEY: DEMO_API_SECRET}, start="auto", speed=speed)
    server.start()
    return server


@dataclass
class _Candles:
    rows: list = field(default_factory=list)        # (t, o, h, l, c)
    entries: list = field(default_factory=list)     # (t, price, side)
    exits: list = field(default_factory=list)       # (t, price, reason)
    stops: list = field(default_factory=list)       # (t, stop)


class LivePanel:
    def __init__(self, symbols: list[str], *, mode: str = "DRY_RUN", venue: str = "local", timeframe: str = "1h",
                 risk_per_trade: float = 0.01, leverage: int = 5, activation_threshold: float = 0.7,
                 allow_long: bool = True, allow_short: bool = True, strategy: str = "donchian",
                 params_file: str | None = None, data_dir: str | None = None, replay_speed: float = 5.0):
        self.params_file, self.data_dir, self.replay_speed, self.strategy = params_file, data_dir, replay_speed, strategy
        w = widgets
        self.mode = w.Dropdown(options=list(MODES), value=mode, description="mode")
        self.confirm_live = w.Checkbox(False, description="I confirm LIVE trades real money")
        self.venue = w.Dropdown(options=["local", "binance"], value=venue, description="venue")
        self.symbols = w.Text(",".join(symbols), description="symbols")
        self.timeframe = w.Dropdown(options=["15m", "1h", "4h"], value=timeframe, description="timeframe")
        self.risk = w.FloatSlider(value=risk_per_trade, min=0.001, max=0.05, step=0.001, readout_format=".3f",
                                  description="risk/trade")
        self.leverage = w.IntSlider(value=leverage, min=1, max=20, description="leverage")
        self.threshold = w.FloatSlider(value=activation_threshold, min=0.05, max=1.0, step=0.05,
                                       description="activation")
        self.allow_long = w.Checkbox(allow_long, description="longs")
        self.allow_short = w.Checkbox(allow_short, description="shorts")
        self.buttons = {name: w.Button(description=name) for name in
                        ("Start", "Pause", "Resume", "Flatten all", "Kill switch", "Re-arm")}
        for name, button in self.buttons.items():
            button.on_click(lambda _, name=name: self.press(name))
        self.status = w.HTML("not started")
        self.positions = w.HTML()
        self.journal = w.HTML()
        self.alerts = w.HTML()
        self.figure = go.FigureWidget(make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                                                    vertical_spacing=0.04))
        self.figure.add_candlestick(name="bars", row=1, col=1)
        self.figure.add_scatter(name="entries", mode="markers", marker=dict(symbol="triangle-up", size=11), row=1, col=1)
        self.figure.add_scatter(name="exits", mode="markers", marker=dict(symbol="x", size=10), row=1, col=1)
        self.figure.add_scatter(name="stop", mode="lines", line=dict(dash="dot"), row=1, col=1)
        self.figure.add_scatter(name="equity", row=2, col=1)
        self.figure.add_scatter(name="drawdown", fill="tozeroy", xaxis="x2", yaxis="y3",   # its own axis, right
                                line=dict(width=1, color="rgba(200,40,40,0.6)"), fillcolor="rgba(200,40,40,0.15)")
        self.figure.update_layout(yaxis3=dict(overlaying="y2", side="right", tickformat=".1%", showgrid=False,
                                              title="drawdown"))
        self.figure.update_layout(height=520, xaxis_rangeslider_visible=False, margin=dict(l=40, r=20, t=30, b=30))
        self.session = None
        self.control = None          # the session's Control, once it runs
        self.venue_server = None
        self.messages: list[str] = []
        self._candles: dict[str, _Candles] = {}
        self._equity: list[tuple[Any, float]] = []
        self._task: asyncio.Task | None = None

    # --- layout --------------------------------------------------------------------------------------
    def view(self) -> widgets.Widget:
        w = widgets
        knobs = w.VBox([w.HBox([self.mode, self.confirm_live]), w.HBox([self.venue, self.symbols, self.timeframe]),
                        w.HBox([self.risk, self.leverage, self.threshold]), w.HBox([self.allow_long, self.allow_short])])
        return w.VBox([knobs, w.HBox(list(self.buttons.values())), self.status, self.figure,
                       w.HBox([self.positions, self.alerts]), self.journal])

    def settings(self):
        mode = MODES[self.mode.value]
        overrides: dict[str, Any] = dict(STRATEGY=self.strategy, TIMEFRAME=self.timeframe.value,
                                         RISK_PER_TRADE=self.risk.value, LEVERAGE=self.leverage.value,
                                         ACTIVATION_THRESHOLD=self.threshold.value, ALLOW_LONG=self.allow_long.value,
                                         ALLOW_SHORT=self.allow_short.value,
                                         donchian={"risk_pct": self.risk.value, "leverage": self.leverage.value})
        if mode == "live":
            overrides.update(ENVIRONMENT="LIVE", USE_TESTNET=False)
        return load_settings(self.params_file, **overrides)

    # --- running -----------------------------------------------------------------------------------
    async def run(self, duration_s: float | None = None) -> dict[str, Any]:
        """One session: connect, warm up, reconcile, decide on every closed bar until ``duration_s``."""
        from autobot_lib.live.launch import open_session

        settings = self.settings()
        symbols = [s.strip().upper() for s in self.symbols.value.split(",") if s.strip()]
        base_url = None
        if self.venue.value == "local":
            self.venue_server = start_local_venue(symbols, self.timeframe.value, data_dir=self.data_dir,
                                                  speed=self.replay_speed)
            base_url = self.venue_server.url
        self._say(f"connecting: {self.mode.value} on {self.venue.value} venue")
        started = time.monotonic()
        try:
            async with open_session(settings, MODES[self.mode.value], symbols, base_url=base_url,
                                    confirm_live=self.confirm_live.value) as session:
                self.session = session
                self.control = Control(session.engine)
                session.after_bars.append(self.refresh)
                session.engine.alert_listeners.append(lambda key, text: self._say(f"[{key}] {text}"))
                await session.warm_up()
                self._say("warm; reconciled; deciding on every closed bar")
                await session.run(duration_s=duration_s, warm=False)
                self.refresh([])
                return self.summary(time.monotonic() - started)
        finally:
            if self.venue_server is not None:
                self.venue_server.stop()

    def start(self, duration_s: float | None = None) -> asyncio.Task:
        """Run in the background (interactive use); the buttons stay live."""
        self._task = asyncio.get_event_loop().create_task(self.run(duration_s))
        return self._task

    def press(self, name: str) -> str:
        """What a button does: Start runs a session; the rest go through the control API as "notebook",
        authorised, validated and audited like the same command from Telegram or the MCP server."""
        if name == "Start":
            if self._task is None or self._task.done():
                self.start()
            return "started"
        if self.control is None:
            return self._say(f"{name}: no session is running")
        command = {"Pause": "pause", "Resume": "resume", "Flatten all": "flatten", "Kill switch": "kill",
                   "Re-arm": "rearm"}[name]
        task = asyncio.get_event_loop().create_task(self.control.run(command, Actor.operator("notebook",
                                                                                            via="notebook")))
        task.add_done_callback(lambda t: self._say(f"{name}: {t.result().message}" if not t.exception()
                                                   else f"{name}: {t.exception()}"))
        return self._say(f"{name} sent")

    # --- the view ------------------------------------------------------------------------------------
    def refresh(self, decisions) -> None:
        view = self.session.engine.status if self.session else None
        if view is None:
            return
        for d in decisions:
            rec = d.record
            c = self._candles.setdefault(rec.symbol, _Candles())
            t = pd.Timestamp(rec.timestamp)
            row = view.last_row(rec.symbol)
            c.rows.append((t, row["open"], row["high"], row["low"], row["close"]))
            for intent in rec.intents:
                if intent["kind"] == "ENTRY":
                    c.entries.append((t, intent["price"], intent["side"]))
                elif intent["kind"] in ("EXIT", "PARTIAL_EXIT"):
                    c.exits.append((t, intent["price"], intent["reason"]))
            held = view.positions.get(rec.symbol)
            c.stops.append((t, held.position.stop if held else None))
            for part in (c.rows, c.entries, c.exits, c.stops):
                del part[:-_KEEP]
        if decisions:
            self._equity.append((pd.Timestamp(decisions[-1].record.timestamp), view.last_equity))
            del self._equity[:-_KEEP]
        self._draw(view)

    def _draw(self, view) -> None:
        symbol = next(iter(self._candles), None)
        if symbol is not None:
            c = self._candles[symbol]
            t, o, h, lo, cl = zip(*c.rows) if c.rows else ([],) * 5
            with self.figure.batch_update():
                bars, entries, exits, stops, equity, drawdown = self.figure.data
                bars.update(x=list(t), open=list(o), high=list(h), low=list(lo), close=list(cl), name=symbol)
                entries.update(x=[e[0] for e in c.entries], y=[e[1] for e in c.entries],
                               text=[e[2] for e in c.entries])
                exits.update(x=[e[0] for e in c.exits], y=[e[1] for e in c.exits], text=[e[2] for e in c.exits])
                stops.update(x=[s[0] for s in c.stops], y=[s[1] for s in c.stops])
                equity.update(x=[e[0] for e in self._equity], y=[e[1] for e in self._equity])
                values = pd.Series([e[1] for e in self._equity], dtype=float)
                drawdown.update(x=[e[0] for e in self._equity], y=(values / values.cummax() - 1).tolist())
        self.positions.value = self._positions_html(view.positions)
        self.journal.value = self._journal_html(view.journal)
        self.alerts.value = "<b>alerts</b><br>" + "<br>".join(html.escape(m) for m in self.messages[-8:])
        heartbeat = pd.Timestamp.now(tz="UTC").strftime("%H:%M:%S")
        self.status.value = (f"<b>{self.mode.value}</b> · {len(view.journal)} bars decided · "
                             f"{len(view.positions)} positions · {len(view.trades)} trades closed · trading state "
                             f"<b>{view.trading_state.value}</b> · feed reconnects {self.session.feed.reconnects} · "
                             f"heartbeat {heartbeat} UTC")

    @staticmethod
    def _positions_html(positions) -> str:
        rows = [{"symbol": s, "side": h.position.side.value, "qty": h.position.qty, "entry": h.position.entry_price,
                 "stop": round(h.position.stop, 2), "stop order": h.protection.stop_id,
                 "target order": h.protection.target_id, "bars held": h.position.bars_held}
                for s, h in positions.items()]
        table = pd.DataFrame(rows).to_html(index=False) if rows else "<i>flat</i>"
        return f"<b>positions and protective orders</b>{table}"

    @staticmethod
    def _journal_html(journal) -> str:
        records = journal[-8:]
        if not records:
            return ""
        frame = journal_frame(records)[["timestamp", "symbol", "outcome", "proposal", "confidence", "regime"]]
        text = funnel(journal_frame(journal)).text()
        return (f"<b>latest decisions</b>{frame.to_html(index=False)}<b>signal funnel</b>"
                f"<pre>{html.escape(text)}</pre>")

    def _say(self, text: str) -> str:
        self.messages.append(f"{pd.Timestamp.now(tz='UTC'):%H:%M:%S} {text}")
        return text

    def static_figure(self) -> go.Figure:
        """The view's figure as a plain plotly figure (it survives an HTML export; a widget does not)."""
        return go.Figure(self.figure)

    def save(self, output_dir: str | Path) -> dict[str, Path]:
        """The session's journal (JSON lines, as notebook 04 reads it) and its closed trades, written whole."""
        from autobot_lib._fs import write_text_atomic
        from autobot_lib.journal import write_journal
        from autobot_lib.live.ledger import trade_frame

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        view = self.session.engine.status
        trades = trade_frame(view.trades)
        return {"journal": write_journal(view.journal, out / "live_journal.jsonl"),
                "trades": write_text_atomic(out / "live_trades.csv", trades.to_csv(index=False))}

    def summary(self, seconds: float) -> dict[str, Any]:
        view = self.session.engine.status
        journal = view.journal
        return {"mode": self.mode.value, "venue": self.venue.value, "seconds": round(seconds, 1),
                "bars decided": len(journal), "orders": sum(r.outcome == "order" for r in journal),
                "trades closed": len(view.trades), "positions open": len(view.positions),
                "trading state": view.trading_state.value, "alerts": len(view.alerts)}
