"""The live-session notebook's panel: a bounded DRY_RUN session on the local venue it starts, its view
refreshed per bar, and its buttons going through the control API (audited as the notebook)."""

from __future__ import annotations

import asyncio

from autobot_lib.live.panel import LivePanel
from autobot_lib.model import TradingState
from conftest import data_dir


def test_the_panel_runs_a_session_and_its_buttons_control_it():
    panel = LivePanel(["BTCUSDT"], data_dir=str(data_dir()), replay_speed=20.0)

    async def scenario():
        task = asyncio.create_task(panel.run(duration_s=25))
        while panel.session is None or len(panel.session.engine.journal) < 5:
            assert not task.done(), task.exception() if task.done() else ""
            await asyncio.sleep(0.05)
        engine = panel.session.engine
        seen = {}
        for button, state in (("Pause", TradingState.REDUCING), ("Resume", TradingState.ACTIVE),
                              ("Kill switch", TradingState.HALTED), ("Re-arm", TradingState.ACTIVE)):
            panel.press(button)
            for _ in range(200):
                if engine.trading_state is state:
                    break
                await asyncio.sleep(0.02)
            seen[button] = engine.trading_state
        audited = [a.to_dict() for a in panel.control.audit]
        return await task, seen, audited

    summary, seen, audited = asyncio.run(scenario())
    assert seen == {"Pause": TradingState.REDUCING, "Resume": TradingState.ACTIVE,
                    "Kill switch": TradingState.HALTED, "Re-arm": TradingState.ACTIVE}
    assert summary["bars decided"] >= 20 and "notebook" in str(audited)
    bars, *_ = panel.figure.data
    assert len(bars.x) >= 20 and "positions" in panel.positions.value and "latest decisions" in panel.journal.value
