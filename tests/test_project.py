"""The set-up promises: environment.yml mirrors pyproject.toml; the README opens with the two commands."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import REPO


def _normal(requirement: str) -> tuple[str, str]:
    req = Requirement(requirement)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    wanted = {_normal(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    listed = {_normal(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject.toml: {wanted - listed}"
    assert "-e .[dev]" in pip  # installs the package itself with its extras
    python = next(d for d in conda if d.startswith("python"))
    assert SpecifierSet(project["requires-python"]).contains(python.split("=")[1] + ".0")


def test_readme_opens_with_exactly_the_two_commands():
    text = (REPO / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert first_block == ["make demo", "make test"]
    assert text.index("make demo") < text.index("##")


def test_ci_runs_the_readme_test_command():
    run = (REPO / ".ci" / "run").read_text()
    assert "make test" in run
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test:.*\$\(STAMP\)", makefile, re.M) and re.search(r"^demo:.*\$\(STAMP\)", makefile, re.M)
    assert re.search(r"^\$\(STAMP\): pyproject\.toml", makefile, re.M)  # reinstall only when it changes


def test_reference_oracles_are_not_runtime_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_normal(r)[0] for r in project["dependencies"]}
    assert not runtime & {"ta-lib", "backtesting"}
    for path in (REPO / "autobot_lib").rglob("*.py"):
        source = path.read_text()
        assert "import talib" not in source and "import backtesting" not in source, path
