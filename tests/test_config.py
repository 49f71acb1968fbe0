"""Settings: every seed key with its seed default, the documented precedence, secrets, clear errors."""

from __future__ import annotations

import json

import pytest
import yaml

from autobot_lib.config import ConfigError, Settings, load_rules, load_settings
from autobot_lib.rules import DEFAULT_RULES
from conftest import REPO

# Transcribed from the seeds (AUTOBOT TECHNICAL_ANALYSIS 6.1/6.2; Donchian README config.json), not from code.
AUTOBOT_SEED = {
    "TRADING_SYMBOLS": ["ETHUSDT"], "LEVERAGE": 10, "MAX_POSITIONS": 1, "ACTIVATION_THRESHOLD": 0.7,
    "ENVIRONMENT": "TESTNET", "DRY_RUN": False, "USE_TESTNET": True, "RISK_PER_TRADE": 0.01, "MAX_DRAWDOWN": 0.10,
    "STOP_ATR_MULTIPLIER": 1.5, "TAKE_PROFIT_MULTIPLIER": 2.0, "ADX_MINIMUM": 25, "ADX_CHOP_FILTER": True,
    "ADX_FALLING_THRESHOLD": 0.05, "NOTIFICATION_LEVEL": "INFO", "REDIS_HOST": "localhost", "REDIS_PORT": 6379,
    "REDIS_DB": 0, "REDIS_PASSWORD": None, "WEBSOCKET_RECONNECT_DELAY": 5, "WEBSOCKET_MAX_RECONNECT_DELAY": 60,
    "WEBSOCKET_PING_TIMEOUT": 30, "MIN_POSITION_VALUE": 5.0, "MAX_POSITION_VALUE_RATIO": 0.10, "ORDER_TIMEOUT": 10,
    "POSITION_CHECK_INTERVAL": 30, "RSI_PERIOD": 14, "MACD_FAST": 12, "MACD_SLOW": 26, "MACD_SIGNAL": 9,
    "EMA_SHORT": 9, "EMA_LONG": 21, "EMA_TREND": 50, "BB_PERIOD": 20, "BB_STD": 2, "ATR_PERIOD": 14,
    "BINANCE_API_KEY": None, "BINANCE_API_SECRET": None, "TELEGRAM_BOT_TOKEN": None, "TELEGRAM_CHAT_ID": None,
}
DONCHIAN_SEED = {
    "quote": "USDT", "risk_pct": 0.025, "leverage": 10,
    "enable_pyramiding": True, "pyramid_levels": [(2.0, 0.3), (3.0, 0.2)], "atr_len": 14, "atr_stop_k": 1.2,
    "atr_trail_k": 2.5, "daily_loss_limit": 0.06, "funding_avoid_min": 5,
    "lookback": 400, "data_dir": "data", "emergency_policy": "protect_only",
    "emergency_min_pnl_to_close_pct": 0.0, "emergency_stop_fallback_pct": 0.015,
}
# the seed's config.json example, whose keys for what every bot has land in the top-level settings
SEED_CONFIG_JSON = {
    "binance_key": "k", "binance_secret": "s", "testnet": True, "safe_restart": True, "quote": "USDT",
    "universe": ["BTC/USDT", "ETH/USDT"], "risk_pct": 0.025, "leverage": 10, "enable_pyramiding": True,
    "pyramid_levels": [[2.0, 0.3], [3.0, 0.2]], "atr_len": 14, "atr_stop_k": 1.2, "atr_trail_k": 2.5,
    "daily_loss_limit": 0.06, "funding_avoid_min": 5, "poll_sec": 30, "timeframe": "1h", "lookback": 400,
    "state_file": "state.json", "data_dir": "data", "emergency_policy": "protect_only",
    "emergency_min_pnl_to_close_pct": 0.0, "emergency_stop_fallback_pct": 0.015,
    "position_cap": {"multiple": 2.0, "min": 10000, "max": 25000},
}
DONCHIAN_FLAGS = {"SAFE_RESTART": True, "SAFE_CONSOLE_BANNER": False, "DAILY_REPORT_ENABLED": False,
                  "ALERT_COOLDOWN_SEC": 600, "METRICS_PORT": 9108}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.upper() in Settings.model_fields or key.upper().startswith("DONCHIAN__") or key == "BOT_CONFIG_JSON":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_every_seed_key_has_its_seed_default():
    s = load_settings()
    for key, value in {**AUTOBOT_SEED, **DONCHIAN_FLAGS}.items():
        assert getattr(s, key) == value, key
    for key, value in DONCHIAN_SEED.items():
        assert getattr(s.donchian, key) == value, key
    cap = s.donchian.position_cap
    assert (cap.multiple, cap.min, cap.max) == (2.0, 10000, 25000)


def test_the_seeds_config_json_trades_the_donchian_bot_on_its_universe(tmp_path):
    """A config.json that sets universe, timeframe, risk_pct and leverage is the Donchian bot trading them."""
    (tmp_path / "config.json").write_text(json.dumps({**SEED_CONFIG_JSON, "universe": ["SOL/USDT", "BNB"],
                                                      "timeframe": "4h", "risk_pct": 0.02, "leverage": 3,
                                                      "poll_sec": 15}))
    s = load_settings(config_json=tmp_path / "config.json")
    assert (s.STRATEGY, s.TRADING_SYMBOLS, s.TIMEFRAME) == ("donchian", ["SOLUSDT", "BNBUSDT"], "4h")
    assert (s.donchian.risk_pct, s.donchian.leverage, s.POSITION_CHECK_INTERVAL) == (0.02, 3, 15)
    assert (s.STATE_STORE, s.STATE_DB_PATH, s.USE_TESTNET) == ("sqlite", "state.json", True)
    (tmp_path / "other.json").write_text(json.dumps({"universe": ["BTC/BUSD"]}))
    with pytest.raises(ConfigError, match="not in the quote 'USDT'"):
        load_settings(config_json=tmp_path / "other.json")
    (tmp_path / "autobot.json").write_text(json.dumps({"strategy": "autobot", "universe": ["ETH/USDT"]}))
    assert load_settings(config_json=tmp_path / "autobot.json").STRATEGY == "autobot"


def test_precedence_args_json_env_dotenv_yaml_defaults(tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text("RISK_PER_TRADE: 0.011\nLEVERAGE: 3\nMAX_POSITIONS: 4\nALLOW_SHORT: false\n"
                                     "donchian: {risk_pct: 0.031, atr_len: 21}\n")
    (tmp_path / ".env").write_text("RISK_PER_TRADE=0.012\nLEVERAGE=4\nDONCHIAN__RISK_PCT=0.032\n")
    monkeypatch.setenv("RISK_PER_TRADE", "0.013")
    (tmp_path / "config.json").write_text(json.dumps({"risk_pct": 0.034, "testnet": False}))
    monkeypatch.setenv("BOT_CONFIG_JSON", str(tmp_path / "config.json"))
    s = load_settings(tmp_path / "p.yaml", MAX_POSITIONS=7)
    assert s.MAX_POSITIONS == 7            # argument beats the YAML
    assert s.donchian.risk_pct == 0.034    # config.json beats .env
    assert s.USE_TESTNET is False          # config.json's "testnet"
    assert s.RISK_PER_TRADE == 0.013       # environment beats .env and YAML
    assert s.LEVERAGE == 4                 # .env beats YAML
    assert s.donchian.atr_len == 21        # YAML beats defaults, nested keys merge
    assert s.ALLOW_SHORT is False and s.STOP_ATR_MULTIPLIER == 1.5


def test_params_default_yaml_documents_every_key_with_its_default():
    path = REPO / "params" / "default.yaml"
    text = path.read_text()
    for key in Settings.model_fields:
        assert key in text, f"params/default.yaml does not document {key}"
    for key in Settings.model_fields["donchian"].annotation.model_fields:
        assert f"  {key}:" in text, f"params/default.yaml does not document donchian.{key}"
    assert load_settings(path).model_dump() == load_settings().model_dump()


def test_secrets_never_print(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"binance_key": "AKIAsecretkey", "binance_secret": "s3cr3t!"}))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:tok-en")
    s = load_settings(config_json=tmp_path / "config.json")
    shown = repr(s) + str(s) + str(s.model_dump())
    for secret in ("AKIAsecretkey", "s3cr3t!", "123:tok-en"):
        assert secret not in shown
    assert s.BINANCE_API_KEY.get_secret_value() == "AKIAsecretkey"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    monkeypatch.setenv("REDIS_PASSWORD", "hunter2")
    monkeypatch.setenv("REDIS_PORT", "not-a-port")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value) and "REDIS_PORT = 'not-a-port'" in str(caught.value)


@pytest.mark.parametrize("key, value, expected", [
    ("RISK_PER_TRADE", 0.5, "RISK_PER_TRADE = 0.5: Input should be less than or equal to 0.1 (allowed: 0 < x <= 0.1)"),
    ("LEVERAGE", 0, "LEVERAGE = 0: Input should be greater than or equal to 1 (allowed: 1 <= x <= 125)"),
    ("ACTIVATION_THRESHOLD", 1.5, "(allowed: 0 < x <= 1)"),
    ("MAX_DRAWDOWN", -0.1, "MAX_DRAWDOWN = -0.1"),
    ("ENVIRONMENT", "PRODUCTION", "ENVIRONMENT = 'PRODUCTION': Input should be 'DRY_RUN', 'TESTNET' or 'LIVE'"),
    ("TRADING_SYMBOLS", [], "TRADING_SYMBOLS must name at least one symbol"),
    ("PYRAMID_LEVELS", [[3.0, 0.3], [2.0, 0.2]], "PYRAMID_LEVELS triggers must be positive and increasing"),
    ("TP_LADDER", [[1.0, 1.5]], "TP_LADDER shares must be in (0, 1]"),
    ("MACD_FAST", 30, "MACD_FAST (30) must be shorter than MACD_SLOW (26)"),
    ("NOT_A_SETTING", 1, "NOT_A_SETTING"),
    ("donchian", {"atr_stop_k": 0}, "donchian.atr_stop_k = 0"),
    ("donchian", {"position_cap": {"multiple": 2, "min": 30000, "max": 25000}}, "must not exceed position_cap.max"),
])
def test_invalid_values_name_key_value_and_range(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings(**{key: value})
    assert expected in str(caught.value)


def test_environment_lists_and_bad_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADING_SYMBOLS", "btcusdt, ETH/USDT:USDT")
    assert load_settings().TRADING_SYMBOLS == ["BTCUSDT", "ETHUSDT"]
    (tmp_path / "bad.yaml").write_text("RISK_PER_TRADE: [")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_settings(tmp_path / "bad.yaml")
    monkeypatch.setenv("BOT_CONFIG_JSON", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="BOT_CONFIG_JSON points to .*missing.json"):
        load_settings()


def test_rules_from_a_params_file(tmp_path):
    spec = {"rules": [{"name": "MY_PULLBACK_LONG", "category": "trend_following",
                       "condition": "close > ema_50 and rsi < 40", "bias": 0.5, "regimes": ["BULL_TREND"]}]}
    (tmp_path / "extend.yaml").write_text(yaml.safe_dump(spec))
    rules = load_rules(tmp_path / "extend.yaml")
    assert len(rules) == len(DEFAULT_RULES) + 1 and rules.by_name("MY_PULLBACK_LONG").bias == 0.5
    (tmp_path / "replace.yaml").write_text(yaml.safe_dump({**spec, "rules_mode": "replace"}))
    assert load_rules(tmp_path / "replace.yaml").names == ("MY_PULLBACK_LONG",)
    assert load_settings(tmp_path / "replace.yaml").STRATEGY == "autobot"  # rules sit beside settings
    spec["rules"][0]["condition"] = "close > ema_50 and __import__('os')"
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="unknown function '__import__'"):
        load_rules(tmp_path / "evil.yaml")


def test_env_example_loads_with_empty_values_as_unset(tmp_path):
    import shutil

    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    s = load_settings(env_file=tmp_path / ".env")
    assert s.ENVIRONMENT == "TESTNET" and s.BINANCE_API_KEY is None and s.SLACK_WEBHOOK_URL is None


def test_a_removed_seed_key_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ConfigError, match="AUTO_TESTNET_ON_DD: not a setting of this bot: the bot never moves"):
        load_settings(AUTO_TESTNET_ON_DD=True)
