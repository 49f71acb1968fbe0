"""One control API over a running :class:`~autobot_lib.live.engine.LiveEngine`, for every front.

The notebook widgets call :class:`Control` in-process; Telegram commands (``telegram_commands.py``) and
the HTTP endpoint that ``tools/mcp_server.py`` speaks to (``control_http.py``) call the same methods. So a
command means the same thing wherever it comes from, and every one goes through the same four steps:

1. **authorise**: the :class:`Actor` (who, through which front) has a :class:`Role`: ``viewer`` may run
   the read-only commands, ``operator`` every command, ``none`` (an unknown chat, a wrong token) nothing;
2. **validate**: a symbol the engine trades, a parameter on the whitelist :data:`SETTABLE` with a value
   inside the range the :class:`~autobot_lib.config.Settings` model allows (the refusal names it);
3. **run** on the engine, in its event loop (a bar, a reconciliation and a command never interleave:
   the engine's lock);
4. **log and audit**: one structured log line (logger ``autobot.control``) and an :class:`AuditEntry`,
   whatever the outcome, and a :class:`CommandResult` ``(ok, message, data)`` for the caller.

Commands: ``status``, ``positions``, ``journal`` (tail), ``metrics`` (summary), ``audit`` (read-only);
``pause`` (TradingState REDUCING: no new entries, exits and trailing stops go on), ``resume``,
``flatten`` (every position closed at market, exit reason ``manual_close``), ``kill`` (the kill switch:
HALTED), ``rearm``, ``close`` (one symbol, ``manual_close``), ``set`` (one whitelisted parameter).

From another thread (a widget callback), :meth:`Control.submit` schedules a command on the engine's loop
and returns a ``concurrent.futures.Future``; :meth:`Control.call` waits for it::

    control = Control(engine)                      # bound to the loop on first use, or bind(loop)
    result = await control.pause(Actor.operator("ana", via="notebook"))
    result.ok, result.message                      # (True, 'paused by notebook:ana: ...')
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import difflib
import logging
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Awaitable, Callable

from autobot_lib.config import ConfigError, changed_settings
from autobot_lib.exchange.ports import BrokerError

log = logging.getLogger("autobot.control")


class Role(StrEnum):
    NONE = "none"            # not authorised: every command is denied
    VIEWER = "viewer"        # read-only commands
    OPERATOR = "operator"    # every command


@dataclass(frozen=True)
class Actor:
    """Who sent a command, and through which front (``notebook``, ``telegram``, ``http``, ``mcp`` ...)."""

    name: str
    role: Role = Role.NONE
    via: str = "api"

    @classmethod
    def operator(cls, name: str, via: str = "api") -> Actor:
        return cls(name, Role.OPERATOR, via)

    @classmethod
    def viewer(cls, name: str, via: str = "api") -> Actor:
        return cls(name, Role.VIEWER, via)

    def __str__(self) -> str:
        return f"{self.via}:{self.name}"


class Command(StrEnum):
    STATUS = "status"
    POSITIONS = "positions"
    JOURNAL = "journal"
    METRICS = "metrics"
    AUDIT = "audit"
    PAUSE = "pause"
    RESUME = "resume"
    FLATTEN = "flatten"
    KILL = "kill"
    REARM = "rearm"
    CLOSE = "close"
    SET = "set"


READ_ONLY = frozenset({Command.STATUS, Command.POSITIONS, Command.JOURNAL, Command.METRICS, Command.AUDIT})
DESTRUCTIVE = frozenset({Command.FLATTEN, Command.KILL, Command.CLOSE})   # fronts ask for a confirmation


class Outcome(StrEnum):
    DONE = "done"
    DENIED = "denied"        # authorisation
    REFUSED = "refused"      # validation
    FAILED = "failed"        # the exchange (or the engine) did not do it


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = Outcome.DONE

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "data": self.data, "outcome": self.outcome.value}


@dataclass(frozen=True)
class AuditEntry:
    at: str                  # ISO time, UTC
    actor: str
    role: str
    command: str
    args: dict[str, Any]
    outcome: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# parameters that may change while the bot runs: name -> (settings path, the strategy that reads it or None
# for both). Loss limits, stops and indicator periods are not here: they change at a restart.
SETTABLE: dict[str, tuple[tuple[str, ...], str | None]] = {
    "RISK_PER_TRADE": (("RISK_PER_TRADE",), "autobot"),
    "LEVERAGE": (("LEVERAGE",), "autobot"),
    "ACTIVATION_THRESHOLD": (("ACTIVATION_THRESHOLD",), "autobot"),
    "FUNDING_AVOID_MIN": (("FUNDING_AVOID_MIN",), "autobot"),
    "ALLOW_LONG": (("ALLOW_LONG",), None),
    "ALLOW_SHORT": (("ALLOW_SHORT",), None),
    "MAX_POSITIONS": (("MAX_POSITIONS",), None),
    "donchian.risk_pct": (("donchian", "risk_pct"), "donchian"),
    "donchian.leverage": (("donchian", "leverage"), "donchian"),
    "donchian.funding_avoid_min": (("donchian", "funding_avoid_min"), "donchian"),
}


_METHODS = {Command.SET: "set_param", Command.AUDIT: "audit_tail"}   # the rest: the command's own name


class Refused(ValueError):
    """A command that cannot be run as given; the message says what is allowed."""


def _symbol(text: str) -> str:
    return str(text).upper().replace("/", "").split(":")[0].strip()


def _float(value: Any) -> float | None:
    value = float(value)
    return None if value != value else value


class Control:
    def __init__(self, engine, *, loop: asyncio.AbstractEventLoop | None = None, audit_size: int = 10_000,
                 clock: Callable[[], float] = time.time):
        self.engine = engine
        self.audit: deque[AuditEntry] = deque(maxlen=audit_size)
        self._loop, self._clock = loop, clock

    # --- threads -----------------------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> Control:
        """The loop the engine runs in (set by the first command awaited there if not given)."""
        self._loop = loop
        return self

    def submit(self, command: str, by: Actor, **args: Any) -> concurrent.futures.Future:
        """Run ``command`` on the engine's loop from any other thread."""
        if self._loop is None or self._loop.is_closed():
            raise RuntimeError("Control is not bound to the engine's running loop: call control.bind(loop) there")
        return asyncio.run_coroutine_threadsafe(self.run(command, by, **args), self._loop)

    def call(self, command: str, by: Actor, timeout: float = 60.0, **args: Any) -> CommandResult:
        """:meth:`submit` and wait (never from the engine's own loop: that would wait for itself)."""
        return self.submit(command, by, **args).result(timeout)

    # --- the commands --------------------------------------------------------------------------------------
    async def run(self, command: str, by: Actor, **args: Any) -> CommandResult:
        """Any command by name (what the fronts call): ``run("close", actor, symbol="BTCUSDT")``."""
        try:
            name = Command(str(command).lower().lstrip("/"))
        except ValueError:
            nearest = difflib.get_close_matches(str(command).lower(), [c.value for c in Command], n=1)
            return self._finish(str(command), by, args, CommandResult(
                False, f"unknown command {command!r}" + (f"; did you mean {nearest[0]!r}?" if nearest else "")
                + f" (commands: {', '.join(c.value for c in Command)})", outcome=Outcome.REFUSED))
        method = getattr(self, _METHODS.get(name, name.value))
        try:
            return await method(by=by, **args)
        except TypeError as exc:     # missing or unexpected arguments
            return self._finish(name.value, by, args, CommandResult(False, f"{name.value}: {exc}",
                                                                    outcome=Outcome.REFUSED))

    async def status(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            v = self.engine.status
            try:
                equity = _float(await v.exchange_equity())
            except BrokerError:
                equity = None
            state, held = v.trading_state.value, v.positions
            data = {"state": state, "paused_by": v.paused_by,
                    "kill_switch": {"tripped": v.kill_tripped, "detail": v.kill_detail},
                    "strategy": v.strategy, "broker": v.broker, "symbols": v.symbols,
                    "positions": len(held), "equity": equity, "peak_equity": v.peak_equity,
                    "daily_anchor": v.daily_anchor, "trades": len(v.trades),
                    "last_bar": {s: t.isoformat() for s, t in v.last_bar.items()}}
            extra = f", paused by {v.paused_by}" if v.paused_by else ""
            extra += f", kill switch: {v.kill_detail}" if v.kill_tripped else ""
            return CommandResult(True, f"{state}{extra}; {len(held)} position(s); equity "
                                 f"{'?' if equity is None else f'{equity:,.2f}'}", data)
        return await self._command(Command.STATUS, by, {}, do)

    async def positions(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            rows = []
            v = self.engine.status
            for symbol, held in v.positions.items():
                p = held.position
                mark = v.mark(symbol)
                mark = None if mark != mark else _float(mark)
                rows.append({"symbol": symbol, "side": p.side.value, "qty": p.qty, "entry_price": p.first_entry_price,
                             "stop": p.stop, "take_profit": p.take_profit, "bars_held": p.bars_held,
                             "opened_at": p.opened_at.isoformat(), "stop_order_id": held.protection.stop_id,
                             "mark": mark, "unrealised_pnl": None if mark is None else
                             round(p.side.sign * (mark - p.entry_price) * p.qty, 8)})
            text = "; ".join(f"{r['symbol']} {r['side']} {r['qty']} @ {r['entry_price']} stop {r['stop']:.8g}"
                             for r in rows) or "no positions"
            return CommandResult(True, text, {"positions": rows})
        return await self._command(Command.POSITIONS, by, {}, do)

    async def journal(self, by: Actor, n: int = 20) -> CommandResult:
        async def do() -> CommandResult:
            count = int(n)
            if not 1 <= count <= 500:
                raise Refused(f"n = {n}: allowed 1 <= n <= 500")
            records = [r.to_dict() for r in self.engine.status.journal[-count:]]
            return CommandResult(True, f"last {len(records)} journal record(s)", {"records": records})
        return await self._command(Command.JOURNAL, by, {"n": n}, do)

    async def metrics(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            v = self.engine.status
            trades, journal = v.trades, v.journal
            pnl = [t.pnl for t in trades if t.pnl == t.pnl]
            seconds = sorted(v.decision_seconds)
            data = {"decisions": len(journal), "outcomes": dict(Counter(r.outcome.split(":")[0] for r in journal)),
                    "trades": len(trades), "wins": sum(x > 0 for x in pnl), "losses": sum(x <= 0 for x in pnl),
                    "realised_pnl": round(sum(pnl), 8),
                    "exit_reasons": dict(Counter(t.exit_reason for t in trades)), "alerts": len(v.alerts),
                    "decision_ms_p50": round(seconds[len(seconds) // 2] * 1000, 3) if seconds else None}
            return CommandResult(True, f"{data['trades']} trade(s), {data['wins']} won, PnL after costs "
                                 f"{data['realised_pnl']:,.2f}; {data['decisions']} decision(s)", data)
        return await self._command(Command.METRICS, by, {}, do)

    async def audit_tail(self, by: Actor, n: int = 20) -> CommandResult:
        async def do() -> CommandResult:
            entries = [a.to_dict() for a in list(self.audit)[-int(n):]]
            return CommandResult(True, f"last {len(entries)} command(s)", {"entries": entries})
        return await self._command(Command.AUDIT, by, {"n": n}, do)

    async def pause(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            if self.engine.status.paused_by:
                return CommandResult(True, f"already paused by {self.engine.status.paused_by}",
                                     {"state": self.engine.status.trading_state.value})
            self.engine.manual.pause(str(by))
            return CommandResult(True, f"paused by {by}: no new entries; exits and stops go on",
                                 {"state": self.engine.status.trading_state.value})
        return await self._command(Command.PAUSE, by, {}, do)

    async def resume(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            if not self.engine.status.paused_by:
                return CommandResult(True, "not paused: nothing to resume", {"state": self.engine.status.trading_state.value})
            self.engine.manual.resume(str(by))
            state = self.engine.status.trading_state
            tripped = " (the kill switch is tripped: rearm to trade)" if self.engine.status.kill_tripped else ""
            return CommandResult(True, f"resumed by {by}; state {state.value}{tripped}", {"state": state.value})
        return await self._command(Command.RESUME, by, {}, do)

    async def kill(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            if self.engine.status.kill_tripped:
                return CommandResult(True, f"already halted: {self.engine.status.kill_detail}",
                                     {"state": self.engine.status.trading_state.value})
            self.engine.manual.halt(str(by))
            return CommandResult(True, f"kill switch tripped by {by}: entries halted, stops kept",
                                 {"state": self.engine.status.trading_state.value})
        return await self._command(Command.KILL, by, {}, do)

    async def rearm(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            if not self.engine.status.kill_tripped:
                raise Refused("the kill switch is not tripped: nothing to re-arm")
            text = self.engine.manual.rearm(str(by))
            return CommandResult(True, text, {"state": self.engine.status.trading_state.value})
        return await self._command(Command.REARM, by, {}, do)

    async def close(self, symbol: str, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            wanted = self._traded(symbol)
            trade = await self.engine.manual.close_position(wanted, str(by))
            if trade is None:
                raise Refused(f"no {wanted} position to close (open: {', '.join(self.engine.status.positions) or 'none'})")
            return CommandResult(True, f"{wanted} {trade.side} {trade.qty} closed at {trade.exit_price} "
                                 f"({trade.exit_reason})", {"trade": trade.to_dict()})
        return await self._command(Command.CLOSE, by, {"symbol": symbol}, do)

    async def flatten(self, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            trades = await self.engine.manual.flatten(str(by))
            text = "; ".join(f"{t.symbol} {t.side} {t.qty} at {t.exit_price}" for t in trades)
            return CommandResult(True, f"flattened by {by}: {text or 'no positions'} (state "
                                 f"{self.engine.status.trading_state.value}: pause or kill to stop new entries)",
                                 {"trades": [t.to_dict() for t in trades]})
        return await self._command(Command.FLATTEN, by, {}, do)

    async def set_param(self, name: str, value: Any, by: Actor) -> CommandResult:
        async def do() -> CommandResult:
            key = self._settable(name)
            path, reader = SETTABLE[key]
            strategy = self.engine.status.settings.STRATEGY
            if reader is not None and reader != strategy:
                others = [k for k, (_, r) in SETTABLE.items() if r in (None, strategy)]
                raise Refused(f"{key} is not read by the {strategy} strategy; settable here: {', '.join(others)}")
            old_settings = self.engine.status.settings
            change = {path[0]: value} if len(path) == 1 else {path[0]: {path[1]: value}}
            try:
                new_settings = changed_settings(old_settings, change)
            except ConfigError as exc:
                raise Refused(str(exc).replace("invalid settings:\n  ", "")) from None
            old, new = self._read(old_settings, path), self._read(new_settings, path)
            await self.engine.manual.apply_settings(new_settings)
            return CommandResult(True, f"{key}: {old} -> {new}", {"name": key, "old": old, "new": new})
        return await self._command(Command.SET, by, {"name": name, "value": value}, do)

    # --- the four steps ------------------------------------------------------------------------------------
    async def _command(self, command: Command, by: Actor, args: dict[str, Any],
                       do: Callable[[], Awaitable[CommandResult]]) -> CommandResult:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if not isinstance(by, Actor):
            result = CommandResult(False, f"{command.value}: 'by' must be an Actor (who sends it, and their role)",
                                   outcome=Outcome.DENIED)
        elif by.role is Role.NONE or (by.role is Role.VIEWER and command not in READ_ONLY):
            result = CommandResult(False, f"{command.value}: {by} is not authorised"
                                   + (" (read-only access)" if by.role is Role.VIEWER else ""), outcome=Outcome.DENIED)
        else:
            try:
                result = await do()
            except (Refused, ConfigError, ValueError) as exc:
                result = CommandResult(False, f"{command.value} refused: {exc}", outcome=Outcome.REFUSED)
            except BrokerError as exc:
                result = CommandResult(False, f"{command.value} failed at the exchange: {exc}", outcome=Outcome.FAILED)
            except Exception as exc:      # a front must get an answer, and trading must go on
                log.exception("command %s by %s raised", command.value, by)
                result = CommandResult(False, f"{command.value} failed: {type(exc).__name__}: {exc}",
                                       outcome=Outcome.FAILED)
        return self._finish(command.value, by, args, result)

    def _finish(self, command: str, by: Any, args: dict[str, Any], result: CommandResult) -> CommandResult:
        role = by.role.value if isinstance(by, Actor) else "none"
        shown = {k: str(v) for k, v in args.items()}
        self.audit.append(AuditEntry(datetime.fromtimestamp(self._clock(), timezone.utc).isoformat(), str(by), role,
                                     command, shown, result.outcome.value, result.message))
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "command %s by %s: %s: %s", command, by, result.outcome.value, result.message,
                extra={"command": command, "actor": str(by), "role": role, "command_args": shown,
                       "outcome": result.outcome.value})
        return result

    # --- validation ----------------------------------------------------------------------------------------
    def _traded(self, symbol: Any) -> str:
        wanted = _symbol(symbol or "")
        if wanted not in self.engine.status.symbols:
            nearest = difflib.get_close_matches(wanted, self.engine.status.symbols, n=1)
            raise Refused(f"{symbol!r} is not traded here" + (f"; did you mean {nearest[0]}?" if nearest else "")
                          + f" (symbols: {', '.join(self.engine.status.symbols)})")
        return wanted

    @staticmethod
    def _settable(name: Any) -> str:
        by_lower = {k.lower(): k for k in SETTABLE}
        key = by_lower.get(str(name).strip().lower())
        if key is None:
            nearest = difflib.get_close_matches(str(name).strip().lower(), list(by_lower), n=1)
            raise Refused(f"{name!r} cannot be set while running" +
                          (f"; did you mean {by_lower[nearest[0]]}?" if nearest else "") +
                          f" (settable: {', '.join(SETTABLE)})")
        return key

    @staticmethod
    def _read(settings, path: tuple[str, ...]) -> Any:
        value = settings
        for part in path:
            value = getattr(value, part)
        return value
