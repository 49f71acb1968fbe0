"""Golden regression: decisions exactly, metrics within 1e-2 (regenerate: autobot baseline)."""

from __future__ import annotations

import json

from autobot_lib.backtest import golden
from conftest import REPO, data_dir


def test_decisions_and_metrics_match_the_baseline():
    expected = json.loads((REPO / "tests" / "golden" / "baseline.json").read_text())
    problems = golden.compare(expected, golden.generate(data_dir()))
    assert not problems, "\n".join(problems[:10]) + "\nIf the change is intended: autobot baseline, then commit it."
    assert all(len(run["decisions"]) > 50 for run in expected["runs"].values())


def test_a_changed_decision_is_caught():
    expected = json.loads((REPO / "tests" / "golden" / "baseline.json").read_text())
    tampered = json.loads(json.dumps(expected))
    tampered["runs"]["autobot"]["decisions"][3]["outcome"] = "order" if \
        tampered["runs"]["autobot"]["decisions"][3]["outcome"] != "order" else "veto:max_positions"
    tampered["runs"]["donchian"]["metrics"]["win_rate"] += 0.05
    problems = golden.compare(tampered, expected)
    assert any("autobot: decision 3 differs" in p for p in problems)
    assert any("donchian: metric win_rate" in p for p in problems)
