"""The architecture's rules, checked: the core is pure, every setting is read by the part it names, and no
class grows into a god object."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autobot_lib.config import DonchianSettings, Settings
from conftest import REPO

CORE = ["autobot_lib.pipeline", "autobot_lib.risk", "autobot_lib.rules", "autobot_lib.indicators", "autobot_lib.regime",
        "autobot_lib.strategy", "autobot_lib.journal"]
# what the core must not load: the settings, the network, the stores, file formats of the edge
FORBIDDEN = ("autobot_lib.config", "pydantic_settings", "ccxt", "aiohttp", "redis", "httpx", "yaml", "urllib3",
             "autobot_lib.data.download", "autobot_lib.live", "autobot_lib.exchange", "autobot_lib.state")


def test_the_core_imports_no_settings_io_or_network():
    code = "import sys\n" + "".join(f"import {m}\n" for m in CORE) + \
        "print('\\n'.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"AUTOBOT_JIT": "0", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    loaded = run.stdout.split()
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"importing the core loads {bad}"


def _source() -> str:
    files = [p for p in (REPO / "autobot_lib").rglob("*.py") if p.name != "config.py"]
    return "\n".join(p.read_text() for p in files)


# settings read by no component, with the reason they stay (a line in the docs says the same)
NOT_READ: dict[str, str] = {}


@pytest.mark.parametrize("field", [*Settings.model_fields, *(f"donchian.{f}" for f in DonchianSettings.model_fields)])
def test_every_setting_has_a_reader_outside_the_config_module(field):
    """A setting that nothing reads is a promise the bot does not keep: read it, or remove it."""
    if field in NOT_READ:
        return
    name = field.split(".")[-1]
    source = _source()
    read = re.search(rf"\.{name}\b", source) or re.search(rf"[\"']{name}[\"']", source)
    assert read, f"{field} is read by nothing outside autobot_lib/config.py: wire it into the part it names, " \
                 "or remove it (and say why in the docs)"


def _classes() -> list[tuple[str, str, int]]:
    out = []
    for path in (REPO / "autobot_lib").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                out.append((str(path.relative_to(REPO)), node.name, node.end_lineno - node.lineno + 1))
    return out


def test_no_class_is_a_god_object():
    big = [(p, c, n) for p, c, n in _classes() if n > 250]
    assert not big, f"classes over 250 lines: {big}"
