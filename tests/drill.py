"""The SIGKILL drill's machinery (tests/test_live_crash.py): a two-symbol venue, the bot as a process
killed at moments of its whole life, and the checks that look at values after every restart.

- :func:`make_venue`: real BTCUSDT and ETHUSDT 1h bars (with funding), stepped by hand.
- :class:`Bot`: ``autobot live --mode testnet --base-url <venue>`` (real ccxt, SQLite state) in its own
  process; :meth:`Bot.stage` names how far its start-up got, from the requests the venue saw from it.
- :func:`look`: one consistent picture of the venue's account (taken on the venue's own loop, so no
  request is half-applied in it).
- :func:`problems`: what is wrong after a restart's reconciliation, as sentences that name the values:
  each position has exactly one protective stop, of the closing side, for the position's quantity, at
  the saved state's stop (on the tick grid, as the bot sends it), on the protective side of the mark;
  no protective order that no position owns; no client order id executed twice; every filled entry in
  the journal as an ``order`` decision.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from autobot_lib.exchange.venue import MarketBook, VenueServer
from autobot_lib.exchange.venue.account import AlgoOrder, Order
from autobot_lib.model import MarketFilters
from autobot_lib.risk.sizing import round_price
from autobot_lib.state import SQLiteStore
from conftest import REPLAY_START, REPO, VENUE_KEY, VENUE_SECRET, real, real_funding

SYMBOLS = ("BTCUSDT", "ETHUSDT")
ALGO_PATH = "/fapi/v1/algoOrder"
# trades often: short channels, two positions at once, break-even at a small R (saved break-even stops the
# market then crosses), pyramid adds early (the stop's quantity changes with each add)
SETTINGS = {
    "STRATEGY": "donchian", "MAX_DRAWDOWN": 1.0, "MAX_POSITIONS": 2, "BREAK_EVEN_R": 0.3,
    "STATE_STORE": "sqlite", "POSITION_CHECK_INTERVAL": 1,
    "donchian": {"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0, "channel_len": 10,
                 "exit_channel_len": 5, "daily_loss_limit": 1.0, "enable_pyramiding": True,
                 "pyramid_levels": [[0.5, 0.3], [1.0, 0.2]]},
}


def until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


def make_venue() -> VenueServer:
    """Real USD-M BTCUSDT and ETHUSDT 1h bars and funding from REPLAY_START, stepped by hand; started."""
    usdm = MarketBook("usdm")
    for symbol in SYMBOLS:
        usdm.add_bars(symbol, real(f"binance_usdm_{symbol}_1h.csv.gz"))
        usdm.add_funding(symbol, real_funding(f"binance_usdm_{symbol}_funding.csv.gz"))
    usdm.rate_limit_scale = 1000     # hours replayed in seconds: the bot's limiter follows what is announced
    server = VenueServer(usdm=usdm, api_keys={VENUE_KEY: VENUE_SECRET}, start=REPLAY_START, speed="manual")
    server.start()
    return server


def on_venue(venue: VenueServer, fn):
    """``fn()`` run on the venue's loop: nothing the bot sends is half-applied while it runs."""
    async def call():
        return fn()
    return asyncio.run_coroutine_threadsafe(call(), venue._loop).result(10)


def subscribed(venue: VenueServer) -> int:
    """How many bar streams are subscribed: once a bot subscribes, its start-up (restore, reconciliation)
    is over."""
    return sum(len(s) for _, s in list(venue.streams.market.values()))


def connected(venue: VenueServer) -> bool:
    return subscribed(venue) >= 1


@dataclass
class Look:
    """The venue's account at one moment."""

    now_ms: int
    amounts: dict[str, Decimal]
    entries: dict[str, Decimal]
    algos: list[AlgoOrder]
    orders: list[Order]
    marks: dict[str, Decimal]
    prices: dict[str, Decimal]
    filters: dict[str, MarketFilters]

    def stops(self, symbol: str) -> list[AlgoOrder]:
        return [a for a in self.algos if a.symbol == symbol and a.is_open and a.type == "STOP_MARKET"]

    def open_algos(self, symbol: str) -> list[AlgoOrder]:
        return [a for a in self.algos if a.symbol == symbol and a.is_open]

    def held(self) -> dict[str, Decimal]:
        return {s: a for s, a in self.amounts.items() if a}


def look(venue: VenueServer) -> Look:
    def take() -> Look:
        a = venue.account
        return Look(venue.now_ms(), {s: p.amount for s, p in a.positions.items()},
                    {s: p.entry for s, p in a.positions.items()}, [copy.copy(x) for x in a.algos.values()],
                    [copy.copy(o) for o in a.orders.values()], dict(a.marks), dict(a.prices),
                    {s: MarketFilters.of(x.tick_size, x.step_size, x.min_qty, x.min_notional)
                     for s, x in a.specs.items()})
    return on_venue(venue, take)


def saved(store_path: Path):
    """The bot's saved state and journal (None, [] before the first save)."""
    if not store_path.exists():
        return None, []
    store = SQLiteStore(store_path)
    try:
        return store.load(), store.read_journal()
    finally:
        store.close()


def bar_stamp(client_id: str) -> str:
    """The decided bar's open time of a client id ``ab-<SYMBOL>-<seconds hex>-<role>``, as the journal writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(client_id.split("-")[2], 16)))


def _algo(a: AlgoOrder) -> str:
    return f"{a.client_id} {a.type} {a.side} {a.qty} @ {a.trigger} ({a.status})"


def problems(venue: Look, state, journal, symbols=SYMBOLS) -> list[str]:
    """What is wrong on the venue and in the saved state after a restart's reconciliation; [] if nothing."""
    out = []
    positions = dict(state.positions) if state is not None else {}
    for symbol in symbols:
        amount, mark = venue.amounts.get(symbol, Decimal(0)), venue.marks.get(symbol)
        stops, standing = venue.stops(symbol), venue.open_algos(symbol)
        if not amount:
            out += [f"{symbol}: orphan: {_algo(a)} stands with no position" for a in standing]
            continue
        side = "long" if amount > 0 else "short"
        where = f"{symbol} {side} {abs(amount)} (mark {mark}, last price {venue.prices.get(symbol)})"
        saved_pos = positions.get(symbol)
        if saved_pos is None:
            out.append(f"{where}: the saved state holds no position")
        elif (saved_pos.position.side.sign > 0) != (amount > 0):
            out.append(f"{where}: the saved state holds it {saved_pos.position.side.value}")
        if len(stops) != 1:
            out.append(f"{where}: {len(stops)} open stops, not exactly one: "
                       f"{'; '.join(map(_algo, stops)) or 'unprotected'}")
        owned = set(saved_pos.client_order_ids) | {saved_pos.stop_order_id} if saved_pos is not None else set()
        out += [f"{where}: orphan: {_algo(a)} is not the position's stop" for a in standing
                if a.type != "STOP_MARKET" and a.client_id not in owned]
        for stop in stops[:1]:
            closing = "SELL" if amount > 0 else "BUY"
            if stop.side != closing:
                out.append(f"{where}: stop {_algo(stop)} is a {stop.side}, not the closing {closing}")
            if stop.close_position or stop.qty != abs(amount):
                out.append(f"{where}: stop {_algo(stop)} covers {stop.qty}, not the position's {abs(amount)}")
            if mark is not None and ((stop.trigger >= mark) if amount > 0 else (stop.trigger <= mark)):
                out.append(f"{where}: stop {_algo(stop)} is not on the protective side of the mark {mark}")
            if saved_pos is not None:
                want = round_price(saved_pos.position.stop, venue.filters[symbol])
                if stop.trigger != want:
                    out.append(f"{where}: stop {_algo(stop)} triggers at {stop.trigger}, the saved state's stop is "
                               f"{want} ({saved_pos.position.stop})")
                if saved_pos.stop_order_id != stop.client_id:
                    out.append(f"{where}: stop {_algo(stop)} is not the saved state's stop order "
                               f"{saved_pos.stop_order_id}")
    # no client order id executed twice (a triggered stop's own market order carries the stop's id)
    triggered = {a.actual_order_id for a in venue.algos if a.actual_order_id}
    ids = Counter(o.client_id for o in venue.orders if o.order_id not in triggered)
    ids.update(a.client_id for a in venue.algos)
    twice = sorted(i for i, n in ids.items() if n > 1)
    if twice:
        out.append("sent twice: " + "; ".join(
            [f"{o.client_id} {o.side} {o.qty} {o.status}" for o in venue.orders if o.client_id in twice]
            + [_algo(a) for a in venue.algos if a.client_id in twice]))
    # every entry the exchange filled is an "order" decision of the journal, for that symbol and bar
    ordered = {(r.symbol, r.timestamp) for r in journal if r.outcome == "order"}
    for o in venue.orders:
        if o.client_id.endswith("-E") and o.status == "FILLED" and (o.symbol, bar_stamp(o.client_id)) not in ordered:
            out.append(f"entry {o.client_id} ({o.side} {o.executed} at {o.avg_price}) is not in the journal")
    return out


class LogTail:
    """The bot's JSON-lines log (every process appends to it), read on from where the last read stopped."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0
        self.lines: list[dict] = []
        self.closed: set[str] = set()          # the bars decided and executed: "bar <open time> closed"

    def read(self) -> list[dict]:
        """The lines written since the last read."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1           # a line still being written waits for the next read
        self.offset += end
        new = []
        for raw in chunk[:end].splitlines():
            try:
                new.append(json.loads(raw))
            except ValueError:
                new.append({"msg": raw.decode(errors="replace")})
        self.lines += new
        self.closed.update(str(line.get("msg", "")).split(" ")[1] for line in new
                           if str(line.get("msg", "")).startswith("bar ") and " closed" in str(line.get("msg", "")))
        return new

    def messages(self, since: int = 0) -> list[str]:
        self.read()
        return [str(line.get("msg", "")) for line in self.lines[since:]]


# what a restart's reconciliation did, by the words of its alerts
REPAIRS = {"adopted": "adopted", "stop re-armed": "re-armed", "passed its stop": "stop passed: closed",
           "orphan protective order": "orphan cancelled", "no longer held": "closed while down",
           "flattened": "flattened", "not repaired": "NOT REPAIRED"}


def repairs(messages: list[str]) -> list[str]:
    out = []
    for msg in messages:
        for words, name in REPAIRS.items():
            if words in msg and (msg.split(":")[0] + " " + name) not in out:
                out.append(msg.split(":")[0] + " " + name)
    return out


class Bot:
    """``autobot live`` against ``venue`` in its own process, with its state and log in ``folder``."""

    def __init__(self, venue: VenueServer, folder: Path, symbols=SYMBOLS, **overrides):
        self.venue, self.folder, self.symbols = venue, folder, list(symbols)
        self.store = folder / "state.sqlite3"
        self.log = LogTail(folder / "bot.log")
        self.out = folder / "bot.out"
        self.params = folder / "params.yaml"
        settings = {**SETTINGS, **overrides, "STATE_DB_PATH": str(self.store), "LOG_FILE": str(self.log.path),
                    "HEARTBEAT_FILE": str(folder / "heartbeat.json")}
        self.params.write_text(yaml.safe_dump(settings))
        self.proc: subprocess.Popen | None = None
        self.first_request = 0                 # the venue's requests from this process start here
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None, "already running"
        env = {**os.environ, "AUTOBOT_VENUE_API_KEY": VENUE_KEY, "AUTOBOT_VENUE_API_SECRET": VENUE_SECRET,
               "PYTHONPATH": str(REPO)}
        for key in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "BOT_CONFIG_JSON"):
            env.pop(key, None)
        self.first_request = len(self.venue.requests)
        self.log.read()
        self.log_mark = len(self.log.lines)
        with self.out.open("ab") as out:
            out.write(f"--- start {self.starts + 1}\n".encode())
            out.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "autobot_lib.cli", "-q", "live", "--mode", "testnet",
                                          "--base-url", self.venue.url, "--symbols", *self.symbols, "--no-metrics",
                                          "-f", str(self.params)], cwd=self.folder, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.out.read_text(errors="replace")[-chars:]

    def requests(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.venue.requests[self.first_request:]]

    def saw(self, path: str, method: str = "") -> bool:
        return any(p.startswith(path) and method in ("", m) for m, p in self.requests())

    def stage(self) -> str:
        """How far the start-up got, by the requests the venue saw from this process."""
        paths = [p for _, p in self.requests()]
        history = [i for i, p in enumerate(paths) if p.startswith("/fapi/v1/klines")]
        if any(p.startswith("/market/ws") for p in paths):
            return "running"
        if any(p.startswith("/fapi/v3/positionRisk") for p in paths):
            return "reconciling"
        if any(p.startswith("/fapi/v1/leverage") for p in paths):
            return "configuring"
        if history and any(p.startswith("/fapi/v1/exchangeInfo") for p in paths[history[-1]:]):
            return "restored"
        if len(history) >= len(self.symbols):
            return "history in, restoring"
        if history:
            return "warming up"
        if paths:
            return "loading markets"
        return "importing"

    def wait_started(self, seconds: float = 90) -> None:
        """Until it subscribed to bars (restore and reconciliation done); it must not have exited."""
        until(lambda: subscribed(self.venue) >= len(self.symbols) or not self.alive, "the bot started", seconds)
        assert self.alive, (f"the bot exited with status {self.proc.returncode} while starting: "
                            f"{self.tail().strip().splitlines()[-1]}\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL, then wait for its sockets to close on the venue and drop the faults it left."""
        assert self.proc is not None
        assert self.proc.poll() is None, f"the bot had exited by itself ({self.proc.returncode}):\n{self.tail()}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        until(lambda: not connected(self.venue), "the dead bot's stream closed")
        self.venue.clear_faults()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def messages(self) -> list[str]:
        """This process's log lines so far."""
        return self.log.messages(self.log_mark)

    def closed_bar(self, stamp: str) -> bool:
        """The bar opened at ``stamp`` was decided and its orders executed."""
        self.log.read()
        return stamp in self.log.closed


def last_bar_stamp(venue: VenueServer) -> str:
    """The open time of the bar that closed last, as the bot's log and journal write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(venue.now_ms() // 1000 - 3600))


@dataclass
class Round:
    number: int
    plan: str
    kills: list[str] = field(default_factory=list)
    down_bars: int = 0
    repairs: list[str] = field(default_factory=list)
    held: str = ""
    seconds: float = 0.0

    def row(self) -> str:
        repaired = ", ".join(self.repairs) or "nothing to repair"
        return (f"{self.number:>3} {self.seconds:>4.1f}s  {self.plan:<13} {self.down_bars:>4}  "
                f"{self.held or 'flat':<30} {' | '.join(self.kills)}  =>  {repaired}")


TABLE_HEAD = (f"{'#':>3} {'time':>5}  {'plan':<13} {'down':>4}  {'held after the restart':<30} "
              "kill moments (stage observed)  =>  what the restart's reconciliation repaired")
