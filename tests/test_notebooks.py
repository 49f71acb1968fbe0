"""The research notebooks: paired and stripped, parameters checked before a kernel starts, papermill runs
on real data, a failing cell named, the HTML drawn by a browser. (nbval runs them too: see pyproject.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pytest
from PIL import Image

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
    shot = tmp_path / "notebook.png"
    chromium(folder / "02_backtest.html", tmp_path, "--window-size=1300,2600", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    blue = ((pixels[..., 2] > pixels[..., 0] + 60) & (pixels[..., 2] > pixels[..., 1] + 40)).sum()
    red = ((pixels[..., 0] > pixels[..., 1] + 80) & (pixels[..., 0] > pixels[..., 2] + 60)).sum()
    assert blue > 500 and red > 500  # the equity line and the drawdown area were painted


def test_a_failing_cell_is_named_and_exits_non_zero(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = subprocess.run([AUTOBOT, "-q", "run-notebook", "explore", "-p", "data_dir", str(empty), "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "01_explore: cell" in out.stderr and "FileNotFoundError: no BTCUSDT 1h file" in out.stderr


def test_golden_notebook_is_the_product_notebook_with_reference_outputs():
    from autobot_lib.backtest import golden

    product = jupytext.read(REPO / "notebooks" / "02_backtest.ipynb")
    reference = json.loads((REPO / "tests" / "golden" / "02_backtest.ipynb").read_text())
    code = [c for c in reference["cells"] if "injected-parameters" not in c["metadata"].get("tags", [])]
    assert ["".join(c["source"]) for c in code] == [c.source for c in product.cells]   # same code: run autobot baseline
    checked = [c for c in code if "nbval-check-output" in c["metadata"].get("tags", [])]
    assert len(checked) == 1 and golden.STABLE_CELL in "".join(checked[0]["source"]) and checked[0]["outputs"]
    assert "/work" not in json.dumps(reference) and "data_dir" not in "".join(
        "".join(c["source"]) for c in reference["cells"] if "injected-parameters" in c["metadata"].get("tags", []))


def test_every_notebook_has_a_preset_that_validates():
    presets = {p: notebooks.load_preset(p) for p in (REPO / "params").glob("*.yaml") if p.name != "default.yaml"}
    covered = set()
    for values in presets.values():
        for nb in NOTEBOOKS:
            try:
                notebooks.validate(nb, {k: v for k, v in values.items()})
                covered.add(nb.stem)
            except notebooks.NotebookError:
                pass
    assert covered == {p.stem for p in NOTEBOOKS}


def test_make_lab_serves_the_notebooks(tmp_path):
    import socket
    import time
    import urllib.request

    from conftest import free_port

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"),
         "lab", "--no-browser", f"--port={port}", "--ServerApp.token=", "--ServerApp.password=",
         f"--notebook-dir={REPO / 'notebooks'}", "--ServerApp.ip=127.0.0.1", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.time() < deadline, "JupyterLab did not start"
                time.sleep(0.3)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=20).read().decode()
        assert "JupyterLab" in page
        listing = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=20).read())
        names = {item["name"] for item in listing["content"]}
        assert {"01_explore.ipynb", "02_backtest.ipynb", "03_optimize.ipynb", "04_daily_report.ipynb"} <= names
        kernels = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs", timeout=20).read())
        assert "python3" in kernels["kernelspecs"]
    finally:
        server.terminate()
        server.wait(20)
