"""Typed settings: every key of both seeds, validated once at load, frozen, passed in (never imported).

Two seeds, two vocabularies. AUTOBOT's keys are flat and upper-case, as its ``settings.py`` has them
(``LEVERAGE``, ``RISK_PER_TRADE``, ``ADX_MINIMUM`` ...); the Donchian/ATR bot's ``config.json`` keys live in
the ``donchian`` section with their own names (``risk_pct``, ``atr_stop_k``, ``pyramid_levels`` ...), so
``LEVERAGE`` and ``donchian.leverage`` never collide. ``STRATEGY`` picks which one trades.

Precedence, highest first (documented in params/default.yaml too):
 1. arguments to :func:`load_settings` (Python callers, notebook widgets);
 2. ``config.json`` named by ``BOT_CONFIG_JSON`` (the Donchian bot: "JSON keys override environment variables");
 3. environment variables (``RISK_PER_TRADE=0.02``; nested: ``DONCHIAN__RISK_PCT=0.02``);
 4. the ``.env`` file;
 5. the params YAML (e.g. ``params/default.yaml``);
 6. the seeds' defaults below.

Secrets (API keys, tokens, passwords) are ``SecretStr``: they print as ``**********`` in logs, reprs and
errors. An invalid value fails at load with its key, the value given and the allowed range.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE


class ConfigError(ValueError):
    """Settings that cannot be used; the message names every bad key, its value and what is allowed."""


class Environment(StrEnum):
    DRY_RUN = "DRY_RUN"
    TESTNET = "TESTNET"
    LIVE = "LIVE"


class PositionCap(BaseModel):
    """Donchian bot: notional cap = clamp(multiple x equity, min, max), in quote currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    multiple: float = Field(2.0, gt=0, le=100)
    min: float = Field(10_000.0, ge=0)
    max: float = Field(25_000.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PositionCap:
        if self.min > self.max:
            raise ValueError(f"position_cap.min ({self.min}) must not exceed position_cap.max ({self.max})")
        return self


Levels = list[tuple[float, float]]


def _check_levels(levels: Levels, what: str) -> Levels:
    previous = 0.0
    for trigger, share in levels:
        if trigger <= previous:
            raise ValueError(f"{what} triggers must be positive and increasing, got {levels}")
        if not 0 < share <= 1:
            raise ValueError(f"{what} shares must be in (0, 1], got {share} in {levels}")
        previous = trigger
    return levels


class DonchianSettings(BaseModel):
    """The Donchian/ATR bot's config.json keys, with its documented defaults. Its keys for what every bot
    has (``universe``, ``timeframe``, ``poll_sec``, ``state_file``, ``testnet``, ...) are read into the
    top-level settings they name (:func:`read_config_json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    quote: str = "USDT"                                    # the margin asset: symbols in another are refused
    risk_pct: float = Field(0.025, gt=0, le=0.1)
    leverage: int = Field(10, ge=1, le=125)
    enable_pyramiding: bool = True
    pyramid_levels: Levels = [(2.0, 0.3), (3.0, 0.2)]
    atr_len: int = Field(14, ge=1, le=500)
    atr_stop_k: float = Field(1.2, gt=0, le=20)
    atr_trail_k: float = Field(2.5, gt=0, le=20)
    daily_loss_limit: float = Field(0.06, gt=0, le=1)
    funding_avoid_min: int = Field(5, ge=0, le=480)
    lookback: int = Field(400, ge=50, le=10_000)      # bars of history before the first decision (at least)
    data_dir: str = "data"                            # where the live trade log is written (CSV)
    emergency_policy: Literal["protect_only", "flatten", "flatten_profitable"] = "protect_only"
    emergency_min_pnl_to_close_pct: float = Field(0.0, ge=-1, le=1)
    emergency_stop_fallback_pct: float = Field(0.015, gt=0, le=0.5)
    position_cap: PositionCap = PositionCap()
    # its own exits (the Donchian bot has break-even and the trail; AUTOBOT's regime-change and time exits
    # are off unless asked for here)
    break_even_r: float = Field(1.0, ge=0, le=20)     # 0 turns break-even promotion off
    max_holding_bars: int = Field(0, ge=0, le=100_000)  # 0: no time exit
    exit_on_regime_change: bool = False
    channel_len: int = Field(20, ge=2, le=500)        # the Donchian breakout channel (Turtle: 20)
    exit_channel_len: int = Field(10, ge=2, le=500)   # and its exit channel (Turtle: 10)
    use_exit_channel: bool = False                    # exit on the exit channel (a plain Turtle 20/10)
    # its alert scheduler (README, Observability; config.json: flat or inside OBSERVABILITY)
    heartbeat_alert_sec: int = Field(43_200, ge=60)          # "12h heartbeats"
    heartbeat_missing_sec: int = Field(64_800, ge=60)        # "a missing-heartbeat alarm at 18h"
    clock_drift_alert_ms: int = Field(5_000, ge=1)           # "sustained clock drift above 5s"
    error_burst_count: int = Field(10, ge=1)                 # "10+ errors ...
    error_burst_window_sec: int = Field(300, ge=1)           # ... within 5 minutes"
    no_trade_signal_count: int = Field(5, ge=1)              # "5 signals ...
    no_trade_window_sec: int = Field(7_200, ge=60)           # ... within 2h with zero filled trades"

    @field_validator("pyramid_levels")
    @classmethod
    def _levels(cls, v: Levels) -> Levels:
        return _check_levels(v, "pyramid_levels")


# config.json keys that belong to the top level rather than the donchian section
_JSON_TOP_LEVEL = {"binance_key": "BINANCE_API_KEY", "binance_secret": "BINANCE_API_SECRET",
                   "testnet": "USE_TESTNET", "safe_restart": "SAFE_RESTART",
                   "safe_console_banner": "SAFE_CONSOLE_BANNER", "daily_report_enabled": "DAILY_REPORT_ENABLED",
                   "alert_cooldown_sec": "ALERT_COOLDOWN_SEC", "universe": "TRADING_SYMBOLS", "timeframe": "TIMEFRAME",
                   "poll_sec": "POSITION_CHECK_INTERVAL", "state_file": "STATE_DB_PATH", "strategy": "STRATEGY"}
# "The scheduler reads knobs from OBSERVABILITY in config.py / config.json": a section whose keys count as top-level
_JSON_OBSERVABILITY = ("OBSERVABILITY", "observability")


class Settings(BaseSettings):
    """Every setting of the product. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="forbid",
                                      case_sensitive=False, env_nested_delimiter="__", frozen=True,
                                      validate_default=True, env_ignore_empty=True)  # KEY= means unset

    # --- which strategy trades, where ------------------------------------------------------------
    STRATEGY: Literal["autobot", "donchian"] = "autobot"
    ENVIRONMENT: Environment = Environment.TESTNET
    DRY_RUN: bool = False
    USE_TESTNET: bool = True
    TRADING_SYMBOLS: Annotated[list[str], NoDecode] = ["ETHUSDT"]  # env: "BTCUSDT,ETHUSDT"
    TIMEFRAME: str = "1h"

    # --- credentials (never printed) -------------------------------------------------------------
    BINANCE_API_KEY: SecretStr | None = None
    BINANCE_API_SECRET: SecretStr | None = None
    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_CHAT_ID: str | None = None
    SLACK_WEBHOOK_URL: SecretStr | None = None
    REDIS_PASSWORD: SecretStr | None = None

    # --- AUTOBOT trading and risk ----------------------------------------------------------------
    LEVERAGE: int = Field(10, ge=1, le=125)
    MAX_POSITIONS: int = Field(1, ge=1, le=100)
    ACTIVATION_THRESHOLD: float = Field(0.7, gt=0, le=1)
    ALLOW_LONG: bool = True
    ALLOW_SHORT: bool = True
    RISK_PER_TRADE: float = Field(0.01, gt=0, le=0.1)
    MAX_DRAWDOWN: float = Field(0.10, gt=0, le=1)
    DAILY_LOSS_LIMIT: float = Field(0.06, gt=0, le=1)
    STOP_ATR_MULTIPLIER: float = Field(1.5, gt=0, le=20)
    TAKE_PROFIT_MULTIPLIER: float = Field(2.0, gt=0, le=50)
    TP_LADDER: Levels = []                           # [[R multiple, share to close], ...]; empty: one TP
    TRAIL_ATR_MULTIPLIER: float = Field(2.5, gt=0, le=20)
    BREAK_EVEN_R: float = Field(1.0, ge=0, le=20)    # 0 turns break-even promotion off (donchian: its own)
    MAX_HOLDING_BARS: int = Field(168, ge=0, le=100_000)  # 0 turns the time exit off (donchian: its own)
    EXIT_ON_REGIME_CHANGE: bool = True                # (donchian: its own)
    ENABLE_PYRAMIDING: bool = False
    PYRAMID_LEVELS: Levels = [(2.0, 0.3), (3.0, 0.2)]
    ADX_MINIMUM: float = Field(25, ge=0, le=100)
    ADX_CHOP_FILTER: bool = True
    ADX_FALLING_THRESHOLD: float = Field(0.05, ge=0, le=1)
    ADX_FALLING_FROM: float = Field(50, ge=0, le=100)
    TREND_STABLE_BARS: int = Field(3, ge=1, le=1000)
    BLOCK_RANGE_ENTRIES: bool = True
    CORRELATION_THRESHOLD: float = Field(0.8, gt=0, le=1)
    CORRELATION_WINDOW: int = Field(168, ge=2, le=10_000)     # bars of returns the correlation veto reads
    VOLATILITY_MAX_ATR_PCT: float = Field(0.05, ge=0, le=1)   # no entry while ATR/close is above; 0: off
    FUNDING_AVOID_MIN: int = Field(5, ge=0, le=480)
    MIN_POSITION_VALUE: float = Field(5.0, ge=0)
    MAX_POSITION_VALUE_RATIO: float = Field(0.10, gt=0, le=10)

    # --- costs: the one source for the backtester, the live margin check, the paper broker and the venue --
    TAKER_FEE: float = Field(BINANCE_TAKER_FEE, ge=0, lt=0.01)     # market and stop fills
    MAKER_FEE: float = Field(BINANCE_MAKER_FEE, ge=-0.01, lt=0.01)  # resting limit fills (take profits as maker)
    SLIPPAGE_BPS: float = Field(1.0, ge=0, lt=1000)     # backtest: every market / stop fill, against the trader
    SLIPPAGE_ATR: float = Field(0.0, ge=0, lt=1)        # backtest: plus this share of ATR
    TP_AS_MAKER: bool = False                           # backtest: take profits as resting limits (maker, no slip)
    # backtest: when a daily-loss halt ends (live, only a person re-arms: autobot live --rearm)
    BACKTEST_HALT_REARM: Literal["next_day", "never"] = "next_day"

    # --- AUTOBOT indicator periods (constants.py) ------------------------------------------------
    RSI_PERIOD: int = Field(14, ge=2, le=500)
    MACD_FAST: int = Field(12, ge=1, le=500)
    MACD_SLOW: int = Field(26, ge=2, le=500)
    MACD_SIGNAL: int = Field(9, ge=1, le=500)
    EMA_SHORT: int = Field(9, ge=1, le=1000)
    EMA_LONG: int = Field(21, ge=1, le=1000)
    EMA_TREND: int = Field(50, ge=1, le=1000)
    EMA_MAJOR: int = Field(200, ge=1, le=2000)
    BB_PERIOD: int = Field(20, ge=2, le=500)
    BB_STD: float = Field(2.0, gt=0, le=10)
    ATR_PERIOD: int = Field(14, ge=1, le=500)
    ADX_PERIOD: int = Field(14, ge=2, le=500)
    VOLUME_SMA_PERIOD: int = Field(20, ge=1, le=500)
    REGIME_ADX_RANGE: float = Field(20, gt=0, lt=100)

    # --- operations --------------------------------------------------------------------------------
    ORDER_TIMEOUT: int = Field(10, ge=1, le=300)
    POSITION_CHECK_INTERVAL: int = Field(30, ge=1, le=3600)
    NOTIFICATION_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    REDIS_HOST: str = "localhost"
    REDIS_PORT: int = Field(6379, ge=1, le=65535)
    REDIS_DB: int = Field(0, ge=0, le=15)
    # where the bot keeps its state (autobot_lib.state.open_store): auto = Redis when it answers, else SQLite
    STATE_STORE: Literal["auto", "redis", "sqlite"] = "auto"
    STATE_DB_PATH: str = "data/state.sqlite3"   # the embedded SQLite store (relative to the working folder)
    WEBSOCKET_RECONNECT_DELAY: int = Field(5, ge=1, le=600)
    WEBSOCKET_MAX_RECONNECT_DELAY: int = Field(60, ge=1, le=3600)
    WEBSOCKET_PING_TIMEOUT: int = Field(30, ge=1, le=600)
    SAFE_RESTART: bool = True
    SAFE_CONSOLE_BANNER: bool = False
    DAILY_REPORT_ENABLED: bool = False
    # the kill switch (live): a burst of errors, or clock drift against the exchange, halts new entries
    KILL_SWITCH_MAX_ERRORS: int = Field(5, ge=1, le=1000)          # ... this many exchange errors ...
    KILL_SWITCH_ERROR_WINDOW_SEC: int = Field(60, ge=1, le=86_400)  # ... within this many seconds
    KILL_SWITCH_MAX_DRIFT_MS: int = Field(5_000, ge=100, le=600_000)  # drift beyond this: decisions not trusted
    DAILY_DD_LIMIT: float = Field(0.06, gt=0, le=1)   # the day's drawdown that raises a HIGH alert
    ALERT_COOLDOWN_SEC: int = Field(600, ge=0, le=86_400)
    METRICS_PORT: int = Field(9108, ge=1, le=65535)
    METRICS_HOST: str = "127.0.0.1"   # the address /metrics binds; 0.0.0.0 inside a container whose port is published
    LOG_FILE: str = "logs/autobot.log"                 # JSON lines; empty: stderr only
    LOG_MAX_BYTES: int = Field(10_000_000, ge=10_000)  # rotate at this size ...
    LOG_BACKUP_COUNT: int = Field(5, ge=0, le=100)     # ... keeping this many old files
    HEARTBEAT_FILE: str = "data/heartbeat.json"
    HEARTBEAT_MAX_AGE_SEC: int = Field(900, ge=1, le=86_400)  # older: unhealthy (the seed: 15 minutes)
    # the control API on 127.0.0.1 (autobot_lib.live.control_http; tools/mcp_server.py calls it): off unless a token
    CONTROL_API_TOKEN: SecretStr | None = None
    CONTROL_API_PORT: int = Field(8766, ge=1, le=65535)
    TELEGRAM_COMMANDS: bool = False            # take /status, /pause ... from TELEGRAM_CHAT_ID (and only from it)

    donchian: DonchianSettings = DonchianSettings()

    @field_validator("TP_LADDER")
    @classmethod
    def _ladder(cls, v: Levels) -> Levels:
        return _check_levels(v, "TP_LADDER")

    @field_validator("PYRAMID_LEVELS")
    @classmethod
    def _pyramid(cls, v: Levels) -> Levels:
        return _check_levels(v, "PYRAMID_LEVELS")

    @field_validator("TRADING_SYMBOLS", mode="before")
    @classmethod
    def _symbols(cls, v: Any) -> Any:
        if isinstance(v, str):  # "BTCUSDT,ETHUSDT" from an environment variable
            v = [s.strip() for s in v.split(",") if s.strip()] if not v.strip().startswith("[") else json.loads(v)
        if not v:
            raise ValueError("TRADING_SYMBOLS must name at least one symbol, e.g. ETHUSDT")
        return [s.upper().replace("/", "").split(":")[0] for s in v]

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.MACD_FAST >= self.MACD_SLOW:
            raise ValueError(f"MACD_FAST ({self.MACD_FAST}) must be shorter than MACD_SLOW ({self.MACD_SLOW})")
        if self.WEBSOCKET_RECONNECT_DELAY > self.WEBSOCKET_MAX_RECONNECT_DELAY:
            raise ValueError("WEBSOCKET_RECONNECT_DELAY must not exceed WEBSOCKET_MAX_RECONNECT_DELAY")
        return self


class _DictSource(PydanticBaseSettingsSource):
    """Values already read from a file (params YAML, config.json), as one settings source."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]):
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ is used instead
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


def _read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file {path} not found (see params/default.yaml for the format)")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, e.g. 'RISK_PER_TRADE: 0.01'")
    # rules and notebook parameters live beside the settings in the same file
    return {k: v for k, v in values.items() if k not in ("notebook", "rules", "rules_mode")}


def load_rules(params_file: str | Path | None) -> Any:
    """The rule set a params file asks for: the defaults, extended by (or replaced with) its ``rules``."""
    from autobot_lib.rules import DEFAULT_RULES, Rule, RuleSet

    if not params_file:
        return DEFAULT_RULES
    path = Path(params_file)
    values = yaml.safe_load(path.read_text()) if path.exists() else {}
    specs = (values or {}).get("rules") or []
    mode = (values or {}).get("rules_mode", "extend")
    if mode not in ("extend", "replace"):
        raise ConfigError(f"{path}: rules_mode must be 'extend' or 'replace', got {mode!r}")
    try:
        rules = [Rule.from_dict(spec) for spec in specs]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: bad rule: {exc}") from None
    if not rules:
        return DEFAULT_RULES
    return RuleSet(rules) if mode == "replace" else DEFAULT_RULES.extended(rules)


def read_config_json(path: str | Path) -> dict[str, Any]:
    """A Donchian bot ``config.json``: top-level keys mapped, the rest into the ``donchian`` section."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"BOT_CONFIG_JSON points to {path}, which does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object of settings")
    for name in _JSON_OBSERVABILITY:
        section = raw.pop(name, None)
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{path}: {name} must be an object of knobs, e.g. {{\"alert_cooldown_sec\": 600}}")
        raw.update(section or {})
    top = {_JSON_TOP_LEVEL[k]: v for k, v in raw.items() if k in _JSON_TOP_LEVEL}
    section = {k: v for k, v in raw.items() if k not in _JSON_TOP_LEVEL}
    top.setdefault("STRATEGY", "donchian")                 # it is the Donchian bot's file
    if "STATE_DB_PATH" in top:
        top.setdefault("STATE_STORE", "sqlite")            # its state lives in a file
    if "TRADING_SYMBOLS" in top:
        top["TRADING_SYMBOLS"] = _universe(top["TRADING_SYMBOLS"], section.get("quote", "USDT"), path)
    return {**top, "donchian": section} if section else top


def _universe(pairs: Any, quote: str, path: Path) -> list[str]:
    """config.json's ``universe`` ("BTC/USDT" or "BTC") as exchange symbols in ``quote``."""
    if not isinstance(pairs, list) or not pairs:
        raise ConfigError(f"{path}: universe must be a list of pairs, e.g. [\"BTC/USDT\", \"ETH/USDT\"]")
    symbols = []
    for pair in pairs:
        base, _, other = str(pair).upper().replace(":", "/").partition("/")
        if other and other.split("/")[0] != quote.upper():
            raise ConfigError(f"{path}: universe has {pair!r}, not in the quote {quote!r}: use {base}/{quote} "
                              "or change quote")
        symbols.append(base + quote.upper())
    return symbols


def _bounds(model: type[BaseModel], loc: tuple) -> str:
    """The allowed range of a field, from its constraints: '0 < x <= 0.1'."""
    field = None
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return ""
        field = fields[part]
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else model
    if field is None:
        return ""
    low = next((f"{m.ge} <=" for m in field.metadata if isinstance(m, Ge)), None) or \
        next((f"{m.gt} <" for m in field.metadata if isinstance(m, Gt)), None)
    high = next((f"<= {m.le}" for m in field.metadata if isinstance(m, Le)), None) or \
        next((f"< {m.lt}" for m in field.metadata if isinstance(m, Lt)), None)
    if low or high:
        return f"allowed: {low + ' ' if low else ''}x{' ' + high if high else ''}"
    return ""


# keys the seeds name that this product does not offer, and why (a clear refusal, not "extra inputs")
REMOVED = {
    "AUTO_TESTNET_ON_DD": "the bot never moves to another account mid-session, away from the positions it "
                          "manages; a daily drawdown halts new entries (DAILY_LOSS_LIMIT, the kill switch) and "
                          "alerts (DAILY_DD_LIMIT): to go on in demo trading, restart with --mode testnet",
}


def _describe(error: ValidationError) -> str:
    lines = []
    for e in error.errors():
        loc = tuple(str(p) for p in e["loc"])
        key = ".".join(loc) or "settings"
        if e["type"] == "extra_forbidden" and key.upper() in REMOVED:
            lines.append(f"  {key}: not a setting of this bot: {REMOVED[key.upper()]}")
            continue
        value = e.get("input")
        shown = "**********" if any(s in key.upper() for s in ("KEY", "SECRET", "TOKEN", "PASSWORD", "WEBHOOK")) \
            else repr(value) if not isinstance(value, dict) else "{...}"
        bounds = _bounds(Settings, loc)
        lines.append(f"  {key} = {shown}: {e['msg']}" + (f" ({bounds})" if bounds else ""))
    return "invalid settings:\n" + "\n".join(lines)


def changed_settings(settings: Settings, changes: dict[str, Any]) -> Settings:
    """``settings`` with ``changes`` (``{"RISK_PER_TRADE": 0.02}``, or ``{"donchian": {"risk_pct": 0.02}}``),
    validated as at load; an invalid value raises :class:`ConfigError` naming its allowed range."""
    values = settings.model_dump()
    for key, value in changes.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) and isinstance(values.get(key), dict) \
            else value
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_settings(params_file: str | Path | None = None, *, env_file: str | Path | None = ".env",
                  config_json: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from all sources in the documented precedence (module docstring)."""
    yaml_values = _read_yaml(params_file) if params_file else {}
    json_path = config_json or os.environ.get("BOT_CONFIG_JSON")
    json_values = read_config_json(json_path) if json_path else {}

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                       file_secret_settings):
            return (init_settings, _DictSource(settings_cls, json_values), env_settings, dotenv_settings,
                    _DictSource(settings_cls, yaml_values))

    try:
        return _Loaded(_env_file=env_file, **overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # an environment value that is not valid JSON for a list/section
        raise ConfigError(f"invalid settings: {exc}; lists and sections in environment variables are JSON, "
                          "e.g. PYRAMID_LEVELS='[[2.0, 0.3]]'") from None
