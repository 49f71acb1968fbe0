"""Run the research notebooks headless: parameters checked first, papermill, then a standalone HTML page.

A notebook's ``parameters`` cell defines its parameters and their defaults. :func:`run_notebook`
validates what it is given against them before any kernel starts (an unknown name, or a value of
another type, fails with the name and what is allowed), executes the notebook with papermill into
``<out_dir>/<date>/<name>.ipynb``, and exports ``<name>.html`` beside it. Both files are written
atomically, so rerunning a date replaces the report whole. A failing cell raises
:class:`NotebookFailed` naming the cell and the error.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from autobot_lib._fs import atomic_path, write_text_atomic

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "list": (list, tuple),
          "dict": (dict,), "None": (type(None),)}


class NotebookError(ValueError):
    """A notebook that does not exist or parameters it does not take."""


class NotebookFailed(RuntimeError):
    """A cell raised while the notebook ran."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str            # the default's type: int, float, str, bool, list, dict or None
    default: str         # as written in the parameters cell
    help: str


def notebook_path(name: str, directory: Path = NOTEBOOK_DIR) -> Path:
    available = sorted(p.stem for p in directory.glob("*.ipynb"))
    matches = [n for n in available if n == name or n.split("_", 1)[-1] == name or n.startswith(name)]
    if len(matches) != 1:
        hint = difflib.get_close_matches(name, available, 1)
        raise NotebookError(f"no single notebook matches {name!r}" + (f" (did you mean {hint[0]}?)" if hint else "")
                            + f"; available: {', '.join(available)}")
    return directory / f"{matches[0]}.ipynb"


def parameters(path: Path) -> dict[str, Parameter]:
    import papermill as pm

    found = pm.inspect_notebook(str(path))
    return {name: Parameter(name, _declared_type(p), p["default"], p.get("help", "")) for name, p in found.items()}


def _declared_type(p: dict) -> str:
    """papermill's inferred type (from an annotation), else the type of the default's literal."""
    if p["inferred_type_name"] not in ("None", "Unknown type"):
        return p["inferred_type_name"]
    try:
        return type(ast.literal_eval(p["default"])).__name__.replace("NoneType", "None")
    except (ValueError, SyntaxError):
        return "None"


def _type_ok(value: Any, declared: str) -> bool:
    if declared in ("None", "", "Unknown type") or value is None:
        return True  # a None default takes any value; None is accepted for any parameter
    kinds = _TYPES.get(declared.split("[")[0])
    if kinds is None:
        return True
    if declared == "int" and isinstance(value, bool):
        return False
    return isinstance(value, kinds)


def validate(path: Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` checked against the notebook's parameters cell; raises NotebookError on any mismatch."""
    declared = parameters(path)
    problems = []
    for name, value in given.items():
        if name not in declared:
            near = difflib.get_close_matches(name, declared, 1)
            problems.append(f"unknown parameter {name!r}" + (f" (did you mean {near[0]}?)" if near else ""))
        elif not _type_ok(value, declared[name].type):
            problems.append(f"{name} = {value!r} is a {type(value).__name__}; it takes a {declared[name].type} "
                            f"(default {declared[name].default})")
    if problems:
        allowed = ", ".join(f"{p.name} ({p.type}, default {p.default})" for p in declared.values())
        raise NotebookError(f"{path.stem}: " + "; ".join(problems) + f". Parameters: {allowed}")
    return dict(given)


def load_preset(path: str | Path) -> dict[str, Any]:
    """A params file's ``notebook:`` section (notebook parameters), plus ``params_file`` pointing to the file
    itself so the notebook loads the same settings."""
    path = Path(path)
    if not path.exists():
        raise NotebookError(f"params file {path} not found; presets live in params/ (see params/README.md)")
    values = yaml.safe_load(path.read_text()) or {}
    section = values.get("notebook", {}) if isinstance(values, dict) else {}
    if not isinstance(section, dict):
        raise NotebookError(f"{path}: 'notebook:' must map parameter names to values")
    return {**section, "params_file": str(path.resolve())}


def parse_value(text: str) -> Any:
    """A ``-p key value`` value, read as YAML (1 is an int, 0.5 a float, [a, b] a list, true a bool), except that
    dates stay strings ("2025-01-01"): parameters travel as JSON."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, (dt.date, dt.datetime)):
        return text
    if isinstance(value, list):
        return [str(v) if isinstance(v, (dt.date, dt.datetime)) else v for v in value]
    return value


def run_notebook(name: str, params: Mapping[str, Any] | None = None, *, out_dir: str | Path = "reports",
                 date: str | None = None, timeout: int = 600, progress: bool = False) -> dict[str, Path]:
    """Execute a notebook into ``<out_dir>/<date>/``; returns the executed notebook and HTML paths."""
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    import logging

    logging.getLogger("papermill").setLevel(logging.INFO if progress else logging.WARNING)  # paths, not chatter
    path = notebook_path(name)
    values = validate(path, dict(params or {}))
    if "output_dir" in parameters(path) and "output_dir" not in values:
        values["output_dir"] = str(Path(out_dir).resolve())
    day = date or _today()
    folder = Path(out_dir) / day
    target, page = folder / f"{path.stem}.ipynb", folder / f"{path.stem}.html"
    with atomic_path(target) as tmp:
        try:
            pm.execute_notebook(str(path), str(tmp), parameters=values, kernel_name="python3", progress_bar=progress,
                                cwd=str(path.parent.parent), execution_timeout=timeout, language="python")
        except pm.PapermillExecutionError as exc:
            raise NotebookFailed(f"{path.stem}: cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}") from None
        executed = nbformat.read(tmp, as_version=4)
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(executed)
    write_text_atomic(page, html)
    return {"notebook": target, "html": page}


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")


def next_run(now: dt.datetime, at: str) -> dt.datetime:
    """The next time of day ``at`` ("HH:MM", UTC) strictly after ``now``."""
    try:
        hour, minute = (int(x) for x in at.split(":"))
        target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise NotebookError(f"--at takes a UTC time HH:MM such as 00:05, got {at!r}") from None
    return target if target > now else target + dt.timedelta(days=1)


def daily_report_job(params: Mapping[str, Any], out_dir: str | Path, day: str) -> dict[str, Path]:
    """The report of ``day`` into <out_dir>/<day>/ (a rerun replaces it whole)."""
    return run_notebook("04_daily_report", {**params, "date": day}, out_dir=out_dir, date=day)
