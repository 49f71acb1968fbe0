"""Starting a live session safely: the mode's rules, the broker it gets, the keys it is allowed to use.

Modes (``--mode``, or the one the settings name: :func:`settings_mode`):
- ``dry-run``: decisions and fills simulated in-process (:class:`~autobot_lib.exchange.paper.PaperBroker`)
  on live market data; no key needed, nothing is sent. Settings that say DRY_RUN allow no other mode;
- ``testnet``: Binance USD-M **demo trading** with demo-trading keys;
- ``live``: real money. Refused unless ``confirm_live`` is given, ENVIRONMENT is LIVE and USE_TESTNET is
  off, and refused again if the exchange rejects the keys (demo keys are not valid on the real exchange,
  nor real keys on demo trading: that is how keys of the wrong kind are caught).
``base_url`` points any mode at the local venue (``autobot venue``) instead of Binance.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass

from autobot_lib.config import Environment, Settings
from autobot_lib.data.frame import timeframe_delta
from autobot_lib.exchange.ports import Broker, BrokerError, ErrorPolicy
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.live.control import Control

MODES = ("dry-run", "testnet", "live")


class LaunchError(Exception):
    """The session must not start; the message says why and what to change."""


@dataclass(frozen=True)
class Keys:
    api_key: str
    secret: str

    def __repr__(self) -> str:
        return "Keys(<hidden>)"


def startup_banner(settings: Settings, mode: str, symbols: list[str]) -> str:
    """What the console shows at start: the mode, the symbols, the strategy and how a restart behaves;
    SAFE_CONSOLE_BANNER marks it as SAFE mode so it stands out (the Donchian bot's flag)."""
    line = (f"AUTOBOT {mode}: {', '.join(symbols)} on {settings.TIMEFRAME}, strategy {settings.STRATEGY}; "
            f"SAFE_RESTART {'on' if settings.SAFE_RESTART else 'off'}, state {settings.STATE_STORE}")
    if not settings.SAFE_CONSOLE_BANNER:
        return line
    rule = "=" * 72
    return f"{rule}\n  SAFE MODE  {line}\n  restart: saved positions are restored, then the exchange reconciled\n{rule}"


def settings_mode(settings: Settings) -> str:
    """The mode the settings name: DRY_RUN (or ENVIRONMENT=DRY_RUN) is dry-run, ENVIRONMENT=LIVE with
    USE_TESTNET off is live, anything else testnet."""
    if settings.DRY_RUN or settings.ENVIRONMENT is Environment.DRY_RUN:
        return "dry-run"
    if settings.ENVIRONMENT is Environment.LIVE and not settings.USE_TESTNET:
        return "live"
    return "testnet"


def check_mode(mode: str, settings: Settings, confirm_live: bool = False, base_url: str | None = None) -> None:
    """Refuse a session whose mode the settings do not allow. Settings that say dry-run (DRY_RUN=true or
    ENVIRONMENT=DRY_RUN) allow nothing else: fail closed, nothing is sent."""
    if mode not in MODES:
        raise LaunchError(f"mode {mode!r} is not valid: use one of {', '.join(MODES)}")
    if mode != "dry-run" and settings_mode(settings) == "dry-run":
        raise LaunchError(f"the settings say dry-run (DRY_RUN={settings.DRY_RUN}, ENVIRONMENT="
                          f"{settings.ENVIRONMENT.value}) but --mode is {mode}: nothing is sent while they say so; "
                          "use --mode dry-run, or set DRY_RUN=false and ENVIRONMENT to TESTNET or LIVE")
    if mode == "live" and base_url is None:
        if not confirm_live:
            raise LaunchError("LIVE trades real money: add --confirm-live to say so (and check ENVIRONMENT=LIVE, "
                              "USE_TESTNET=false in your settings)")
        if settings.ENVIRONMENT is not Environment.LIVE or settings.USE_TESTNET or settings.DRY_RUN:
            raise LaunchError(f"LIVE needs ENVIRONMENT=LIVE, USE_TESTNET=false and DRY_RUN=false; the settings say "
                              f"ENVIRONMENT={settings.ENVIRONMENT.value}, USE_TESTNET={settings.USE_TESTNET}, "
                              f"DRY_RUN={settings.DRY_RUN}")
    if mode == "testnet" and settings.ENVIRONMENT is Environment.LIVE:
        raise LaunchError("ENVIRONMENT=LIVE with --mode testnet: the settings and the mode disagree; fix one")


def keys(settings: Settings, mode: str, base_url: str | None) -> Keys | None:
    if mode == "dry-run":
        return None
    if base_url is not None and not settings.BINANCE_API_KEY:
        from autobot_lib.exchange.venue import DEMO_API_KEY, DEMO_API_SECRET   # the local venue's pair
        return Keys(os.environ.get("AUTOBOT_VENUE_API_KEY") or DEMO_API_KEY,
                    os.environ.get("AUTOBOT_VENUE_API_SECRET") or DEMO_API_SECRET)
    if not settings.BINANCE_API_KEY or not settings.BINANCE_API_SECRET:
        raise LaunchError(f"--mode {mode} needs BINANCE_API_KEY and BINANCE_API_SECRET (in .env; see .env.example)"
                          + ("; for testnet use Binance demo-trading keys" if mode == "testnet" else ""))
    return Keys(settings.BINANCE_API_KEY.get_secret_value(), settings.BINANCE_API_SECRET.get_secret_value())


def make_broker(mode: str, settings: Settings, base_url: str | None = None,
                limiter: RateLimiter | None = None) -> Broker:
    """The exchange's broker for testnet or live (after :func:`check_mode`); dry-run's paper broker is made
    in :func:`run_live`, from the markets it trades."""
    from autobot_lib.exchange.ccxt_broker import CcxtBroker

    k = keys(settings, mode, base_url)
    return CcxtBroker(k.api_key, k.secret, mode="venue" if base_url else mode, base_url=base_url, limiter=limiter,
                      timeout_ms=settings.ORDER_TIMEOUT * 1000)


async def verify_keys(broker: Broker, mode: str) -> None:
    """One signed call before anything else: keys of the wrong kind are refused here, clearly."""
    try:
        await broker.balance()
    except BrokerError as exc:
        if exc.policy is ErrorPolicy.HALT:
            other = "demo-trading (testnet)" if mode == "live" else "real-exchange (live)"
            raise LaunchError(f"the exchange refused the API key for --mode {mode} ({exc.code}): check the key and "
                              f"its permissions; {other} keys do not work here") from None
        raise


_CRITICAL = ("kill_switch", "stop_rejected")


def alert_sink(notifier):
    """The engine's ``alert(key, text)`` as notifier alerts: the kill switch and an unprotected position
    are CRITICAL, order errors HIGH, reconciliation MEDIUM."""
    from autobot_lib.notify.alerts import Alert, Priority

    def send(key: str, text: str) -> None:
        head = key.split(":")[0]
        priority = Priority.CRITICAL if head in _CRITICAL else Priority.HIGH if head in (
            "order_error", "state_unavailable", "entry_unfilled") else Priority.MEDIUM
        notifier.notify(Alert(priority, key, head.replace("_", " "), text))
    return send


def market_clients(mode: str, settings: Settings, base_url: str | None):
    """(REST client for history, factory of ccxt.pro clients for streams): public market data only."""
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    from autobot_lib.exchange.venue import venue_client
    from autobot_lib.live.feed import ws_options

    ws = ws_options(settings.WEBSOCKET_PING_TIMEOUT)
    if base_url is not None:
        k = keys(settings, "testnet", base_url)
        return (venue_client(base_url, k.api_key, k.secret, flavour="async", enableRateLimit=False),
                lambda: venue_client(base_url, k.api_key, k.secret, flavour="pro", enableRateLimit=False,
                                     options={"fetchCurrencies": False, **ws}))

    def pro():
        client = ccxt_pro.binanceusdm({"options": {"fetchCurrencies": False, **ws}})
        if mode == "testnet":
            client.enable_demo_trading(True)
        return client
    rest = ccxt_async.binanceusdm({"options": {"fetchCurrencies": False}})
    if mode == "testnet":
        rest.enable_demo_trading(True)
    return rest, pro


@contextlib.asynccontextmanager
async def open_session(settings: Settings, mode: str, symbols: list[str], *, base_url: str | None = None,
                       confirm_live: bool = False, store=None, notifier=None, metrics=None,
                       limiter: RateLimiter | None = None, heartbeat=None, rules=None, trade_log=None):
    """A connected, not yet started :class:`~autobot_lib.live.session.LiveSession` for ``mode`` (the mode's
    rules checked, keys verified); its connections close on exit. For callers that need the session
    itself, such as the live-session notebook; :func:`run_live` is the command's form. Each closed trade
    goes to ``store`` and to the CSV ``trade_log`` (:mod:`autobot_lib.live.trade_log`), those given."""
    from autobot_lib.exchange.ccxt_broker import market_filters
    from autobot_lib.exchange.paper import PaperBroker
    from autobot_lib.live.announcer import Announcer
    from autobot_lib.live.engine import LiveEngine
    from autobot_lib.live.feed import BarFeed
    from autobot_lib.live.session import LiveSession
    from autobot_lib.live.trade_log import trade_keepers

    check_mode(mode, settings, confirm_live, base_url)
    if settings.TELEGRAM_COMMANDS and not (settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID):
        raise LaunchError("TELEGRAM_COMMANDS needs TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID (the one chat obeyed)")
    rest, pro = market_clients(mode, settings, base_url)
    broker = None
    try:
        await rest.load_markets()
        ids = {s: rest.markets_by_id[s][0]["symbol"] for s in symbols if s in rest.markets_by_id}
        missing = sorted(set(symbols) - set(ids))
        if missing:
            raise LaunchError(f"not USD-M markets here: {missing}; check --symbols")
        quote = settings.donchian.quote.upper()
        others = sorted(s for s in symbols if rest.markets_by_id[s][0].get("settle", quote).upper() != quote)
        if others:
            raise LaunchError(f"{others} settle in another asset than the quote {quote} the settings name "
                              "(donchian.quote): trade them from an account in that asset, or change quote")
        if mode == "dry-run":     # the exchange's own filters, fills simulated here on its bars
            broker = PaperBroker({s: market_filters(rest.markets_by_id[s][0]) for s in symbols},
                                 bar_length=timeframe_delta(settings.TIMEFRAME), taker_fee=settings.TAKER_FEE,
                                 maker_fee=settings.MAKER_FEE)
        else:
            broker = make_broker(mode, settings, base_url, limiter)
            await verify_keys(broker, mode)
        listeners: list = []                # the engine's alerts, to the notifier and to the announcer
        sink = alert_sink(notifier) if notifier is not None else None

        def alert(key: str, text: str) -> None:
            if sink is not None:
                sink(key, text)
            for listen in listeners:
                listen(key)

        engine = LiveEngine(settings, broker, symbols, rules=rules, store=store, metrics=metrics,
                            bar_length=timeframe_delta(settings.TIMEFRAME), alert=alert)
        engine.trade_listeners.extend(trade_keepers(store, trade_log))
        feed = BarFeed(pro, ids, settings.TIMEFRAME, backoff_s=settings.WEBSOCKET_RECONNECT_DELAY,
                       max_backoff_s=settings.WEBSOCKET_MAX_RECONNECT_DELAY)
        session = LiveSession(engine, feed, rest,
                              reconcile_every_s=settings.POSITION_CHECK_INTERVAL, heartbeat=heartbeat)
        if isinstance(broker, PaperBroker):
            session.before_decide.append(broker.on_bar)
        if notifier is not None:
            session.announcer = announcer = Announcer.from_settings(session, notifier.notify, settings)
            listeners.append(announcer.engine_alert)
            session.after_bars.append(announcer.after_bars)
            session.ticks.append(announcer.tick)
        yield session
    finally:
        if broker is not None:
            await broker.close()
        await rest.close()


async def run_live(settings: Settings, mode: str, symbols: list[str], *, base_url: str | None = None,
                   confirm_live: bool = False, duration_s: float | None = None, max_bars: int | None = None,
                   store=None, notifier=None, metrics=None, limiter: RateLimiter | None = None,
                   heartbeat=None, rearm_by: str | None = None, early: list[str] | None = None,
                   telegram_base_url: str | None = None, on_control=None, rules=None, trade_log=None):
    """Check the mode, connect, warm up, reconcile, then decide on every closed bar. Returns the engine.
    ``early``: SIGUSR1s the caller caught before this ran (the command installs its catcher first thing).

    SIGUSR1 trips the kill switch by hand (entries halt, stops stay); a tripped switch survives restarts
    until ``rearm_by`` (a person's name) re-arms it at the next start. The control API
    (:mod:`autobot_lib.live.control`) is served on 127.0.0.1:CONTROL_API_PORT when CONTROL_API_TOKEN is set,
    and to Telegram commands from TELEGRAM_CHAT_ID when TELEGRAM_COMMANDS is on; ``on_control(control)``
    receives it in-process (the notebook). ``rules``: AUTOBOT's rule set (a params file's ``rules:``), the
    defaults when None. ``trade_log``: the CSV each closed trade is appended to (:func:`open_session`)."""
    loop = asyncio.get_running_loop()
    early = early if early is not None else []   # a SIGUSR1 while starting is kept, not fatal, and applied below
    loop.add_signal_handler(signal.SIGUSR1, early.append, "SIGUSR1")
    try:
        async with open_session(settings, mode, symbols, base_url=base_url, confirm_live=confirm_live, store=store,
                                notifier=notifier, metrics=metrics, limiter=limiter, heartbeat=heartbeat,
                                rules=rules, trade_log=trade_log) as session:
            engine = session.engine
            loop.add_signal_handler(signal.SIGUSR1, engine.manual.halt, "SIGUSR1")
            fronts = _Fronts(settings, Control(engine, loop=loop), telegram_base_url)
            announcer = session.announcer
            why = "stopped by a signal or an error"
            try:
                await session.warm_up()          # restores the saved state and reconciles
                if rearm_by and engine.status.kill_tripped:
                    print(engine.manual.rearm(rearm_by), flush=True)
                if early:
                    engine.manual.halt("SIGUSR1 (sent while starting)")
                await fronts.start()
                if on_control is not None:
                    on_control(fronts.control)
                if announcer is not None:
                    announcer.started(mode)
                await session.run(duration_s=duration_s, max_bars=max_bars, warm=False)
                why = "the session ended as asked" if duration_s or max_bars else "the stream ended"
            finally:
                await fronts.stop()
                if announcer is not None and engine.executor is not None:
                    announcer.stopped(why)
            return engine
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


class _Fronts:
    """The control API's fronts beside the session: HTTP on 127.0.0.1 (token) and Telegram commands."""

    def __init__(self, settings: Settings, control: Control, telegram_base_url: str | None):
        self.settings, self.control, self.telegram_base_url = settings, control, telegram_base_url
        self.server = None
        self.telegram: asyncio.Task | None = None

    async def start(self) -> None:
        from autobot_lib.live.control_http import ControlServer
        from autobot_lib.live.telegram_commands import TelegramCommands
        from autobot_lib.notify.channels import TELEGRAM_API

        s = self.settings
        if s.CONTROL_API_TOKEN is not None:
            self.server = await ControlServer(self.control, s.CONTROL_API_TOKEN, port=s.CONTROL_API_PORT).start()
        if s.TELEGRAM_COMMANDS:
            commands = TelegramCommands(self.control, s.TELEGRAM_BOT_TOKEN, s.TELEGRAM_CHAT_ID,
                                        base_url=self.telegram_base_url or TELEGRAM_API)
            self.telegram = asyncio.create_task(commands.run())

    async def stop(self) -> None:
        if self.telegram is not None:
            self.telegram.cancel()
            await asyncio.gather(self.telegram, return_exceptions=True)
        if self.server is not None:
            await self.server.stop()
