"""The research notebooks: paired and stripped, parameters checked before a kernel starts, papermill runs
on real data, a failing cell named, the HTML drawn by a browser. (nbval runs them too: see pyproject.)"""

from __future__ import annotations

import json
import subprocess

import jupytext
import pytest

from autobot_lib import notebooks
from conftest import AUTOBOT, REPO, data_dir
from test_report import chromium

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_with_jupytext_stripped_and_parameterised(path):
    pair = path.with_suffix(".py")
    assert pair.exists(), f"{path.name} has no jupytext .py pair"
    ipynb, py = jupytext.read(path), jupytext.read(pair)
    assert [(c.cell_type, c.source) for c in ipynb.cells] == [(c.cell_type, c.source) for c in py.cells], \
        f"{path.name} and {pair.name} disagree: run jupytext --sync {pair}"
    raw = json.loads(path.read_text())
    assert not any(c.get("outputs") for c in raw["cells"] if c["cell_type"] == "code"), "strip the outputs"
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in raw["cells"]) == 1
    assert "output_dir" in notebooks.parameters(path)


@pytest.mark.parametrize("given, message", [
    ({"symbol": ["BTCUSDT"]}, "unknown parameter 'symbol' (did you mean symbols?)"),
    ({"symbols": "BTCUSDT"}, "symbols = 'BTCUSDT' is a str; it takes a list"),
    ({"chart_bars": 1.5}, "chart_bars = 1.5 is a float; it takes a int"),
])
def test_bad_parameters_fail_before_any_kernel(given, message):
    with pytest.raises(notebooks.NotebookError) as caught:
        notebooks.run_notebook("01_explore", given)
    assert message in str(caught.value) and "Parameters: symbols (list" in str(caught.value)


def test_unknown_notebook_suggests():
    with pytest.raises(notebooks.NotebookError, match="did you mean 01_explore"):
        notebooks.notebook_path("explorer")
    assert notebooks.notebook_path("01_explor").stem == "01_explore"  # a prefix is enough


def test_presets_and_values():
    preset = notebooks.load_preset(REPO / "params" / "backtest_btc_eth_1h.yaml")
    assert preset["symbols"] == ["BTCUSDT", "ETHUSDT"] and preset["params_file"].endswith("backtest_btc_eth_1h.yaml")
    assert notebooks.parse_value("2025-01-01") == "2025-01-01" and notebooks.parse_value("0.5") == 0.5
    assert notebooks.parse_value("[BTCUSDT, ETHUSDT]") == ["BTCUSDT", "ETHUSDT"]


def test_backtest_notebook_runs_and_its_page_draws(tmp_path):
    out = subprocess.run([AUTOBOT, "-q", "run-notebook", "backtest", "-f", str(REPO / "params" / "backtest_btc_eth_1h.yaml"),
                          "-p", "data_dir", str(data_dir()), "-p", "funding_dir", str(data_dir()), "-p", "start",
                          "2025-06-01", "--out", str(tmp_path), "--date", "2026-01-02"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "2026-01-02"
    assert (folder / "02_backtest.ipynb").exists() and (tmp_path / "backtest" / "backtest_summary.xlsx").exists()
    executed = json.loads((folder / "02_backtest.ipynb").read_text())
    injected = next(c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert "ACTIVATION" not in "".join(injected["source"]) and "2025-06-01" in "".join(injected["source"])
    dom = chromium(folder / "02_backtest.html", tmp_path, "--dump-dom")
    assert dom.count('class="main-svg"') >= 6 and "trace boxes" in dom


def test_a_failing_cell_is_named_and_exits_non_zero(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = subprocess.run([AUTOBOT, "-q", "run-notebook", "explore", "-p", "data_dir", str(empty), "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "01_explore: cell" in out.stderr and "FileNotFoundError: no BTCUSDT 1h file" in out.stderr
