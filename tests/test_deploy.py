"""The deployment files (deploy/) and the README's Deployment and Runbook sections.

No container engine, pm2 or systemd runs here, so the files are checked for what can be checked without
one: each is parsed (with the real tool where the machine has it: ``docker-compose config``, ``node``,
``systemd-analyze verify``; otherwise by the parsers below, and the test says which it used), all four run
one command line, every ``autobot`` command any file or the README runs parses with the real CLI, and the
live command really starts: it runs in its own process with the compose file's environment (Redis state)
against the local venue, decides bars, stops cleanly on the stop signal the files use, and ``autobot
health`` (the files' health check) passes on its heartbeat and fails on a stale one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from autobot_lib.cli import build_parser
from autobot_lib.config import Settings
from autobot_lib.live.health import write_heartbeat
from conftest import AUTOBOT, REPO, VENUE_KEY, VENUE_SECRET, free_port
from redis_fixture import redis_server  # noqa: F401 (fixture)
from test_live_engine import subscribed

DEPLOY = REPO / "deploy"
LIVE = ["live", "--mode", "dry-run"]          # the one command line every process manager runs
HEALTH = ["health"]                           # and the one health check
STOP_SIGNAL = "SIGINT"                        # Python runs its cleanup on SIGINT; PID 1 ignores a bare SIGTERM


def parses(argv: list[str]) -> None:
    """The real parser accepts ``argv`` (argparse exits on an error: turned into a test failure)."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`autobot {shlex.join(argv)}` does not parse (exit {exc.code})")


# --- Dockerfile --------------------------------------------------------------------------------------------
DOCKER_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                       "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, backslash continuations joined."""
    out, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue                                     # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{path}: the last instruction ends in a backslash"
    return out


def exec_form(text: str) -> list[str]:
    form = json.loads(text)
    assert isinstance(form, list) and all(isinstance(x, str) for x in form), f"not an exec form: {text}"
    return form


def test_dockerfile_builds_the_package_runs_as_a_user_and_checks_the_heartbeat():
    steps = dockerfile(DEPLOY / "Dockerfile")
    unknown = [w for w, _ in steps if w not in DOCKER_INSTRUCTIONS]
    assert not unknown, f"not Dockerfile instructions: {unknown}"
    args = {}
    for word, rest in steps:
        args.setdefault(word, []).append(rest)
    assert steps[0] == ("FROM", "python:3.11-slim")
    # every COPY source is in the repository (the build context is its root), and the package is installed
    for rest in args["COPY"]:
        *sources, _ = rest.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    assert any(re.search(r"\bpip install (\S+ )*\.(\s|$)", r) for r in args["RUN"]), "the package is not installed"
    assert "autobot" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    # a non-root user, set before the process starts
    users = [i for i, (w, _) in enumerate(steps) if w == "USER"]
    assert users and steps[users[-1]][1] not in ("root", "0")
    assert users[-1] < min(i for i, (w, _) in enumerate(steps) if w in ("ENTRYPOINT", "CMD"))
    assert any("useradd" in r for r in args["RUN"])
    # the volumes hold what the bot writes: the settings' relative paths resolve under WORKDIR into them
    workdir = Path(args["WORKDIR"][-1])
    volumes = {Path(v) for v in exec_form(args["VOLUME"][0])}
    assert volumes == {workdir / "data", workdir / "logs"}
    defaults = Settings.model_fields
    for key in ("HEARTBEAT_FILE", "LOG_FILE", "STATE_DB_PATH"):
        written = workdir / defaults[key].default
        assert any(v in written.parents for v in volumes), f"{key} ({written}) is not on a volume"
    assert args["EXPOSE"] == [str(defaults["METRICS_PORT"].default)]
    # the command, its health check and its stop signal
    assert exec_form(args["ENTRYPOINT"][-1]) == ["autobot"]
    assert exec_form(args["CMD"][-1]) == LIVE
    check = args["HEALTHCHECK"][-1]
    options, _, command = check.partition("CMD ")
    assert exec_form(command) == ["autobot", *HEALTH]
    assert "--start-period=" in options and "--interval=" in options
    assert args["STOPSIGNAL"] == [STOP_SIGNAL]
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv/" in ignored, "secrets and the venv must stay out of the build context"
    # No Docker daemon runs here (the client is there, with neither `compose` nor `buildx`), so the image is
    # not built: the instructions above are what is checked.


# --- docker-compose.yml ---------------------------------------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def dotenv(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_compose_runs_the_bot_and_redis_with_restarts_health_checks_and_volumes():
    doc = compose()
    services = doc["services"]
    assert set(services) == {"bot", "redis"}
    bot, redis = services["bot"], services["redis"]
    assert bot["restart"] == redis["restart"] == "unless-stopped"
    assert bot["command"] == LIVE
    assert bot["healthcheck"]["test"] == ["CMD", "autobot", *HEALTH]
    assert redis["image"] == "redis:7"
    assert "redis-cli" in redis["healthcheck"]["test"]
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert bot["stop_signal"] == STOP_SIGNAL
    # built from this repository with deploy/Dockerfile, reading the repository's .env
    context = (DEPLOY / bot["build"]["context"]).resolve()
    assert context == REPO and (context / bot["build"]["dockerfile"]).is_file()
    assert (DEPLOY / bot["env_file"]).resolve() == REPO / ".env" and (REPO / ".env.example").is_file()
    env = bot["environment"]
    assert env["STATE_STORE"] == "redis" and env["REDIS_HOST"] == "redis" and int(env["REDIS_PORT"]) == 6379
    unknown = set(env) - set(Settings.model_fields)
    assert not unknown, f"not settings: {unknown}"
    Settings(_env_file=None, **env)          # valid values
    # /metrics is published on the host's loopback only, and reachable inside the container
    assert env["METRICS_HOST"] == "0.0.0.0"
    for port in bot["ports"]:
        host, host_port, container_port = port.split(":")
        assert host == "127.0.0.1" and container_port == env["METRICS_PORT"], port
    # volumes: Redis's data, and the bot's data and logs at the image's VOLUME paths
    named = set(doc["volumes"])
    mounts = {m.split(":")[1]: m.split(":")[0] for m in bot["volumes"]}
    assert set(mounts) == {"/app/data", "/app/logs"} and set(mounts.values()) <= named
    redis_mounts = {m.split(":")[1]: m.split(":")[0] for m in redis["volumes"]}
    assert redis_mounts["/data"] in named
    assert "--appendonly" in redis["command"]
    assert "ports" not in redis, "Redis stays on the compose network"


def compose_tool() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) and subprocess.run([*command, "version"], capture_output=True).returncode == 0:
            return command
    return None


def test_compose_file_is_valid_for_compose_itself(tmp_path):
    # The repository's layout in a folder of its own, with .env made from .env.example as the README says.
    (tmp_path / "deploy").mkdir()
    shutil.copy(DEPLOY / "docker-compose.yml", tmp_path / "deploy")
    shutil.copy(DEPLOY / "Dockerfile", tmp_path / "deploy")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    tool = compose_tool()
    if tool is None:
        # Neither `docker compose` nor docker-compose here (apt-get install docker-compose gives one): the
        # structure is checked by the test above, the YAML by pyyaml.
        assert compose()["services"]
        return
    run = subprocess.run([*tool, "-f", str(tmp_path / "deploy" / "docker-compose.yml"), "config"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    resolved = yaml.safe_load(run.stdout)["services"]["bot"]
    assert resolved["command"] == LIVE
    assert resolved["environment"]["STATE_STORE"] == "redis"        # the compose value wins over .env's


def compose_environment() -> dict[str, str]:
    """What the bot's container gets: .env (made from .env.example) overridden by compose's environment."""
    return {**dotenv(REPO / ".env.example"), **{k: str(v) for k, v in compose()["services"]["bot"]["environment"].items()}}


# --- pm2 ---------------------------------------------------------------------------------------------------
def pm2_apps() -> tuple[list[dict], str]:
    """The apps of deploy/ecosystem.config.js, evaluated by node when it is here (how pm2 reads the file)."""
    path = DEPLOY / "ecosystem.config.js"
    node = shutil.which("node")
    if node:
        check = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        run = subprocess.run([node, "-e", "process.stdout.write(JSON.stringify(require(process.argv[1])))", str(path)],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["apps"], "node"
    # No node: read the literal values out of the file. This covers the layout the file has (one app whose
    # paths are built with path.join(root, ...)), not JavaScript in general.
    text = path.read_text()
    app = {}
    for key, value in re.findall(r"^\s*(\w+):\s*(.+?),?\s*(?://.*)?$", text, re.M):
        if value.startswith("path.join(root"):
            parts = json.loads("[" + value[len("path.join(root"):].strip(", )") + "]")
            app[key] = str(REPO.joinpath(*parts))
        elif value == "root":
            app[key] = str(REPO)
        else:
            try:
                app[key] = json.loads(value)
            except ValueError:
                pass
    return [app], "regex"


def test_pm2_runs_the_same_command_with_restarts_a_kill_timeout_and_log_files():
    apps, how = pm2_apps()
    assert len(apps) == 1, how
    app = apps[0]
    assert app["name"] == "autobot"
    assert Path(app["cwd"]) == REPO
    assert Path(app["script"]) == REPO / ".venv" / "bin" / "autobot" and app["interpreter"] == "none"
    assert app["args"] == LIVE
    assert app["autorestart"] is True and app["max_restarts"] >= 1
    assert 10_000 <= app["kill_timeout"] <= 60_000     # time for SIGINT's cleanup, pm2's default stop signal
    for key in ("out_file", "error_file"):
        assert Path(app[key]).parent == REPO / "logs"


# --- systemd -------------------------------------------------------------------------------------------------
def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> key -> values (keys may repeat), comments dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}: not a unit line: {raw}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


ROOT = "/opt/autobot"


def test_systemd_unit_runs_the_same_command_restarts_on_failure_and_stops_with_sigint():
    service = unit(DEPLOY / "autobot.service")["Service"]
    command = shlex.split(service["ExecStart"][0])
    assert command[0] == f"{ROOT}/.venv/bin/autobot" and command[1:] == LIVE
    assert service["Restart"] == ["on-failure"]
    assert service["WorkingDirectory"] == [ROOT] and service["EnvironmentFile"] == [f"{ROOT}/.env"]
    assert service["KillSignal"] == [STOP_SIGNAL]
    assert service["User"] != ["root"]
    assert "STATE_STORE=redis" in " ".join(service["Environment"]).split()
    assert service["RestartPreventExitStatus"] == ["2"]            # `autobot live` refused the launch
    assert service["SuccessExitStatus"] == ["130"]                 # `autobot live` stopped by SIGINT
    health = unit(DEPLOY / "autobot-health.service")
    check = shlex.split(health["Service"]["ExecStart"][0])
    assert check[0] == f"{ROOT}/.venv/bin/autobot" and check[1:] == HEALTH
    assert health["Service"]["Type"] == ["oneshot"] and "autobot.service" in health["Unit"]["Requisite"]
    assert "ExecStartPost" not in health["Service"]
    assert "systemctl restart autobot.service" in health["Service"]["ExecStopPost"][0]
    timer = unit(DEPLOY / "autobot-health.timer")["Timer"]
    every = timer["OnUnitActiveSec"][0]
    assert every.endswith("min") and int(every[:-3]) * 60 < Settings.model_fields["HEARTBEAT_MAX_AGE_SEC"].default


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    names = ["autobot.service", "autobot-health.service", "autobot-health.timer"]
    # verify needs the commands to exist: the units point at this environment's autobot and a folder here
    for name in names:
        text = (DEPLOY / name).read_text().replace(f"{ROOT}/.venv/bin/autobot", AUTOBOT).replace(ROOT, str(tmp_path))
        (tmp_path / name).write_text(text)
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    for name in names:
        assert unit(tmp_path / name)                    # parsed here in every case
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return  # no systemd-analyze on this machine: the unit files are checked by the parser above only
    run = subprocess.run([tool, "verify", *(str(tmp_path / n) for n in names)], capture_output=True, text=True,
                         timeout=60)
    # verify exits 0 on keys it cannot parse and only says so: anything it says about our files fails
    said = [line for line in (run.stdout + run.stderr).splitlines() if any(n in line for n in names)]
    assert run.returncode == 0 and not said, run.stdout + run.stderr


# --- one command in all files --------------------------------------------------------------------------------
def deploy_commands() -> dict[str, list[list[str]]]:
    """Every autobot command each file runs (without the program name)."""
    steps = dockerfile(DEPLOY / "Dockerfile")
    entry = [exec_form(r) for w, r in steps if w == "ENTRYPOINT"][-1]
    cmd = [exec_form(r) for w, r in steps if w == "CMD"][-1]
    health = exec_form([r for w, r in steps if w == "HEALTHCHECK"][-1].partition("CMD ")[2])
    bot = compose()["services"]["bot"]
    app = pm2_apps()[0][0]
    units = [shlex.split(unit(DEPLOY / n)["Service"]["ExecStart"][0]) for n in ("autobot.service",
                                                                                 "autobot-health.service")]
    return {"Dockerfile": [entry[1:] + cmd, health[1:]],
            "docker-compose.yml": [bot["command"], bot["healthcheck"]["test"][2:]],
            "ecosystem.config.js": [app["args"]],
            "autobot.service": [units[0][1:]], "autobot-health.service": [units[1][1:]]}


def test_every_file_runs_one_command_line_and_the_cli_parses_it():
    found = deploy_commands()
    for name, commands in found.items():
        for argv in commands:
            parses(argv)
            assert argv in (LIVE, HEALTH), f"{name} runs `autobot {shlex.join(argv)}`, not the shared command"
    lives = [c for commands in found.values() for c in commands if c[:1] == ["live"]]
    assert len(lives) == 4 and all(c == LIVE for c in lives)


# --- the command starts: compose's environment, Redis state, the local venue ----------------------------------
def bot_environment(tmp_path, redis_port: int, metrics_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields and k != "BOT_CONFIG_JSON"}
    env.update(compose_environment())
    env.update({
        # what differs from the container: the addresses (Redis here, a free loopback port for /metrics) ...
        "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port),
        "METRICS_HOST": "127.0.0.1", "METRICS_PORT": str(metrics_port),
        # ... the venue's bars (BTCUSDT, replayed hours in seconds) and its keys for market data
        "TRADING_SYMBOLS": "BTCUSDT", "POSITION_CHECK_INTERVAL": "1",
        "AUTOBOT_VENUE_API_KEY": VENUE_KEY, "AUTOBOT_VENUE_API_SECRET": VENUE_SECRET,
        "PYTHONPATH": str(REPO)})
    return env


def wait(condition, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def health(tmp_path, env, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOBOT, *HEALTH, *extra], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)


def test_the_deployed_command_starts_decides_stops_on_sigint_and_health_follows_its_heartbeat(
        trading_venue, redis_server, tmp_path):  # noqa: F811
    env = bot_environment(tmp_path, redis_server.port, free_port())
    bars = 3
    # the files' command, plus what only a test adds: the local venue and a number of bars to stop after;
    # the working folder stands for the image's WORKDIR (data/ and logs/ are made there)
    argv = [AUTOBOT, *LIVE, "--base-url", trading_venue.url, "--bars", str(bars)]
    parses(argv[1:])
    out = open(tmp_path / "bot.out", "w")
    bot = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait(lambda: subscribed(trading_venue) or bot.poll() is not None, "the bot warmed up and subscribed")
        assert bot.poll() is None, (tmp_path / "bot.out").read_text()[-3000:]
        heartbeat = tmp_path / "data" / "heartbeat.json"
        for k in range(bars):
            trading_venue.advance(1)
            if k == 0:
                wait(lambda: heartbeat.exists(), "the first heartbeat")
                alive = health(tmp_path, env, "--metrics")              # the file and /metrics, while it runs
                assert alive.returncode == 0 and "bot_heartbeat_ts" in alive.stdout, alive.stdout + alive.stderr
                # its kernels run interpreted: neither numba nor LLVM is in its memory (see autobot_lib/_jit.py)
                mapped = Path(f"/proc/{bot.pid}/maps").read_text()
                assert "python" in mapped and "llvmlite" not in mapped and "numba" not in mapped
        assert bot.wait(timeout=90) == 0, (tmp_path / "bot.out").read_text()[-3000:]
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        out.close()
    text = (tmp_path / "bot.out").read_text()
    assert f"{bars} bars decided" in text and "trading state ACTIVE" in text, text[-3000:]
    with redis_server.client() as r:
        assert json.loads(r.get("autobot:state"))["version"] >= 1          # state went to Redis, as compose says
        assert r.xlen("autobot:signals") >= bars
    assert (tmp_path / "logs" / "autobot.log").stat().st_size > 0

    fresh = health(tmp_path, env)                                          # exactly the files' health check
    assert fresh.returncode == 0 and fresh.stdout.startswith("healthy"), fresh.stdout + fresh.stderr
    write_heartbeat(heartbeat, time.time() - Settings.model_fields["HEARTBEAT_MAX_AGE_SEC"].default - 60)
    stale = health(tmp_path, env)
    assert stale.returncode == 1 and stale.stdout.startswith("UNHEALTHY"), stale.stdout + stale.stderr

    # a restart under the same command picks the state up from Redis; the stop signal the files send
    # (SIGINT) ends it cleanly well inside their grace periods (30 s), with exit status 130 (the unit's
    # SuccessExitStatus)
    out = open(tmp_path / "bot2.out", "w")
    bot = subprocess.Popen(argv[:-2], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait(lambda: subscribed(trading_venue) or bot.poll() is not None, "the restarted bot subscribed")
        assert bot.poll() is None, (tmp_path / "bot2.out").read_text()[-3000:]
        trading_venue.advance(1)
        with redis_server.client() as r:
            wait(lambda: r.xlen("autobot:signals") > bars, "the restarted bot decided a bar")
        began = time.monotonic()
        bot.send_signal(signal.SIGINT)
        code = bot.wait(timeout=30)
        said = (tmp_path / "bot2.out").read_text()
        assert code == 130 and "stopped by SIGINT" in said and "Traceback" not in said, (code, said[-3000:])
        assert time.monotonic() - began < 30
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
        out.close()


# --- the README's Deployment and Runbook sections -------------------------------------------------------------
def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


PROGRAMS = {"autobot", "docker", "pm2", "systemctl", "journalctl", "kill", "git", "redis-cli", "cp", "cat", "cd",
            "grep", "make", "pip"}


def shell_commands(section: str) -> list[str]:
    """The command lines of the fenced shell blocks of a section (comments and continuations handled)."""
    lines = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", section, re.S):
        pending = ""
        for raw in block.splitlines():
            line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = (pending + line).strip(), ""
            if line:
                lines += [part.strip() for part in re.split(r"&&|\|\||;|\|", line) if part.strip()]
    return lines


def check_readme_command(line: str, services: set[str], units: set[str]) -> None:
    words = shlex.split(line)
    if words[0] == "sudo":                                      # sudo [-u USER] [VAR=value ...] program ...
        words = words[3:] if words[1] == "-u" else words[1:]
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):     # VAR=value before the program
        assert words[0].split("=")[0] in Settings.model_fields, f"{words[0]}: not a setting"
        words.pop(0)
    program = Path(words[0]).name
    assert program in PROGRAMS, f"README runs {words[0]!r}: not one of the commands this product documents"
    if program == "autobot":
        assert words[0] in ("autobot", ".venv/bin/autobot", f"{ROOT}/.venv/bin/autobot"), words[0]
        parses(words[1:])
    if program == "make":
        assert re.search(rf"^{words[1]}:", (REPO / "Makefile").read_text(), re.M), f"no make target {words[1]}"
    if program == "pip":
        assert words[0] == ".venv/bin/pip" and words[1:] == ["install", "-e", "."], line
    if program == "git":
        assert words[1] in ("tag", "checkout", "fetch", "log", "describe"), line
    for word in words:
        if word.startswith("deploy/"):
            assert (REPO / word).exists(), f"README names {word}: no such file"
        if re.fullmatch(r"autobot[\w-]*\.(service|timer)", word):
            assert word in units, f"README names the unit {word}: not in deploy/"
    if words[:2] == ["docker", "compose"]:
        assert "-f" in words and words[words.index("-f") + 1] == "deploy/docker-compose.yml", line
        action = next(w for w in words[4:] if not w.startswith("-"))
        rest = words[words.index(action) + 1:]
        targets = [w for w in rest if not w.startswith("-") and w not in ("SIGUSR1", "SIGINT")]
        if action in ("exec", "run"):
            assert targets[0] in services, line
            if action == "exec":
                assert targets[1] == "autobot", line
                parses(targets[2:])
            else:
                parses(rest[rest.index(targets[0]) + 1:])          # the image's ENTRYPOINT is autobot
        elif action in ("logs", "kill", "stop", "start", "restart", "ps"):
            assert set(targets) <= services, line
    if program == "pm2":
        names = [w for w in words[2:] if not w.startswith("-") and not w.startswith("SIG") and "/" not in w]
        assert set(names) <= {"autobot"}, f"pm2 app names in {line!r}"
    if program in ("systemctl", "journalctl"):
        for word in words:
            if word.startswith("autobot") and "." not in word:
                assert f"{word}.service" in units, line


@pytest.mark.parametrize("title", ["Deployment", "Runbook"])
def test_every_command_in_the_readme_sections_exists(title):
    commands = shell_commands(readme_section(title))
    assert len(commands) >= 8, commands
    services = set(compose()["services"])
    units = {p.name for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer")}
    for line in commands:
        check_readme_command(line, services, units)
    autobots = [c for c in commands if re.search(r"(^|/|\s)autobot\s+(live|health)", c)]
    assert autobots, "the section runs no autobot command"


def test_the_runbook_covers_the_donchian_bots_four_scenarios_with_this_products_facts():
    runbook = readme_section("Runbook")
    for needle in ("### Daily drawdown", "### Manual kill switch", "### Alert dedupe", "### Rollback",
                   "veto:halted", "--rearm", "ALERT_COOLDOWN_SEC", "repeated", "kill -USR1",
                   "docker compose -f deploy/docker-compose.yml kill -s SIGUSR1 bot", "pm2 sendSignal SIGUSR1 autobot",
                   "systemctl kill -s SIGUSR1 autobot", "autobot health", "version"):
        assert needle in runbook, f"the runbook does not mention {needle!r}"
    assert "--rearm" in build_parser()._subparsers._group_actions[0].choices["live"].format_help()
