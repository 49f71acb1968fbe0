"""Mutation testing of the money path (``make mutate``): mutmut 2, module by module, with focused tests.

For each module of ``[tool.mutmut] paths_to_mutate`` (pyproject.toml) this script

1. copies the work tree (tracked and untracked files, no caches) to a scratch folder, so mutants are
   written there and never into the tree people work in;
2. runs the module's focused tests (:data:`SELECTIONS`) once under coverage, recording which test runs
   which line (coverage's ``test_function`` contexts);
3. runs ``mutmut run`` on the module there, with ``AUTOBOT_JIT=0``: the kernels are interpreted, so a
   mutant takes effect without compiling anything. Each mutant runs only the tests that execute its
   line, fastest first, stopping at the first failure (a test that does not run a line cannot see its
   mutant; ``--confirm`` also runs the whole selection on the survivors, for a test that reads a value
   another test computed, e.g. a cached parameter set). A mutant whose line no test executes survives
   without running anything. Lines executed at import (module tables, defaults, class bodies), in a
   fixture or in another thread run the whole selection, fastest test first;
4. prints killed / survived / total and the score per module, lists the survivors with the reason each
   is equivalent (:data:`EQUIVALENT`) or flags them as unexplained, and writes ``docs/mutation-scores.md``
   with the date and the commit.

Why mutmut 2 (2.5.1): mutmut 3 leaves decorated functions (every ``@njit`` kernel) and module-level code
(the Binance error table) unmutated; cosmic-ray mutates them but replaces each operator by every other
one, several times the mutants for the same defects. mutmut 2 writes each mutant into the file, so
decorated functions and tables are mutated like any code. The mutants of the ``@njit(...)`` lines
themselves are skipped: under ``AUTOBOT_JIT=0`` the decorator is the identity, its options numba's.

Each test run is forked from a server that has already imported pytest and the third-party packages
(numpy, pandas, ccxt, aiohttp, ...), never autobot_lib, so a mutant pays the import of the mutated code
and its tests only (about half a second instead of three).

Usage::

    python tools/mutate.py                        # every module; rewrites docs/mutation-scores.md
    python tools/mutate.py autobot_lib/live/safety.py --jobs 2   # some modules; their rows are replaced
    python tools/mutate.py --survivors autobot_lib/risk/gate.py  # also print each survivor's diff

Exit status 1 when a module scores below :data:`TARGET` or a survivor is neither killed nor listed as
equivalent.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCORES = REPO / "docs" / "mutation-scores.md"
TARGET = 0.90
STATE = ".mutate"                    # in the copy: selection.json, coverage data, the server's socket
# (plugins are not auto-loaded, PYTEST_DISABLE_PLUGIN_AUTOLOAD: the tests need pytest-timeout only)
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-p", "pytest_timeout", "-o", "addopts=", "--strict-markers",
               "--no-header", "-W", "ignore::DeprecationWarning", "-W", "ignore::pytest.PytestAssertRewriteWarning"]

_KERNEL_TESTS = ["tests/test_kernel.py"]
_RISK = ["tests/test_mutants_risk.py", *_KERNEL_TESTS, "tests/test_risk.py", "tests/test_pipeline.py"]
_BACKTEST = ["tests/test_mutants_backtest.py", "tests/test_backtest.py"]
_PAPER_PARITY = ["tests/test_parity.py::test_every_decision_and_intent_is_the_backtesters[autobot-paper]",
                 "tests/test_parity.py::test_every_decision_and_intent_is_the_backtesters[donchian-paper]",
                 "tests/test_parity.py::test_every_trade_agrees_field_by_field[autobot-paper]",
                 "tests/test_parity.py::test_every_trade_agrees_field_by_field[donchian-paper]",
                 "tests/test_parity.py::test_every_protective_order_is_the_one_the_backtest_holds[autobot-paper]",
                 "tests/test_parity.py::test_every_protective_order_is_the_one_the_backtest_holds[donchian-paper]",
                 "tests/test_parity.py::test_equity_agrees_at_every_close[autobot-paper]",
                 "tests/test_parity.py::test_equity_agrees_at_every_close[donchian-paper]",
                 "tests/test_parity.py::test_a_stop_the_next_open_has_passed_is_closed_there_and_booked_as_the_"
                 "backtester_books_it"]
_LIVE = ["tests/test_mutants_live.py", "tests/test_live_repair.py", "tests/test_paper_broker.py", *_PAPER_PARITY,
         "tests/test_live_engine.py"]

# module -> its focused tests (pytest arguments): the tests that exercise it, not the whole suite
SELECTIONS: dict[str, list[str]] = {
    "autobot_lib/risk/kernel.py": [*_RISK, *_BACKTEST],
    "autobot_lib/risk/sizing.py": _RISK,
    "autobot_lib/risk/exits.py": _RISK,
    "autobot_lib/risk/vetoes.py": _RISK,
    "autobot_lib/risk/gate.py": _RISK,
    # the oracle's cases run the loop inside their tests (the parity fixtures run it outside any test, so
    # each of their lines would need the whole selection)
    "autobot_lib/backtest/loop.py": [*_BACKTEST, "tests/test_oracle.py", *_KERNEL_TESTS],
    "autobot_lib/backtest/costs.py": [*_BACKTEST, "tests/test_paper_broker.py"],
    "autobot_lib/live/orders.py": _LIVE,
    "autobot_lib/live/engine.py": ["tests/test_mutants_live.py", "tests/test_live_parts.py", "tests/test_live_repair.py",
                                   "tests/test_paper_broker.py", _PAPER_PARITY[0], _PAPER_PARITY[-1],
                                   "tests/test_live_engine.py", "tests/test_emergency.py", "tests/test_control.py",
                                   "tests/test_live_settings.py"],
    "autobot_lib/live/keeper.py": ["tests/test_live_parts.py", "tests/test_mutants_live.py", "tests/test_live_repair.py",
                                   "tests/test_live_crash.py"],
    "autobot_lib/live/guard.py": ["tests/test_live_parts.py", "tests/test_mutants_live.py", "tests/test_emergency.py",
                                  "tests/test_safety.py"],
    "autobot_lib/live/emergency.py": ["tests/test_emergency.py"],
    "autobot_lib/live/execution.py": _LIVE,
    "autobot_lib/live/reconcile.py": _LIVE,
    "autobot_lib/live/ledger.py": ["tests/test_ledger.py", "tests/test_mutants_live.py", *_PAPER_PARITY],
    "autobot_lib/live/safety.py": ["tests/test_mutants_safety.py", "tests/test_safety.py"],
    "autobot_lib/exchange/errors.py": [
        "tests/test_mutants_errors.py", "tests/test_paper_broker.py::test_every_code_the_venue_model_raises_is_in_the_table",
        "tests/test_paper_broker.py::test_a_refusal_means_the_same_policy_in_paper_and_through_ccxt"],
}

# never run: tests of compiling, which AUTOBOT_JIT=0 turns off
DESELECT = ["tests/test_kernel.py::test_stale_numba_cache_is_dropped_when_a_dependency_changes"]

_ONE = ("a step of 1 has the scale 1: multiplying by the scale and dividing by the step are then the same float "
        "operation (scales are 0 or whole numbers >= 1)")
_GRID = ("stops are on the tick grid: a stop equals its break-even or initial level exactly or is a tick or more "
         "away, so tolerances from 1e-14 to 2e-12 of the price, < or <=, name it alike")
_NOT_STOP = ("market exit codes are regime change, exit channel and holding time (5-7): code 0, STOP_LOSS, is "
             "never one, so > 0 and >= 1 read them as >= 0 does")
_NEGATIVE_CODE = "a negative cap or size-reason code reads as none everywhere (< 0 / >= 0): -2 reads as -1"
_NEGATIVE = "every reader takes a negative close reason as none (< 0 / >= 0): -2 reads as -1"
_ANNOTATION = "an annotation: with `from __future__ import annotations` it is never evaluated"
_NAN_TAIL = ("own's extra elements are NaN: the correlation skips a pair at a NaN of the first series before it "
             "reads the second")
_UNREAD_TAIL = "the correlation reads as many elements as the first series has: the second's extra ones are never read"
_DUST = ("a remainder is float dust (about 1e-16 of the position) or whole steps (at least 1e-8 of a position: an "
         "order is capped near 1e8 steps), never within 2e-9 of it")
_NO_DAY = "no bar closes on day 1 (1970-01-02) or day -2: the first close sets the anchor either way"
_EXTRA_COLUMN = "a bookkeeping column more that nothing reads"
_EVENT_ROWS = ("event rows are read through the first_event index stored with each bar: starting at row 1 shifts "
               "them all, and the buffer has a row for every fill possible")
_DECIMAL = ("exchange steps and ticks are decimals (0.001, 0.5, 10): 1/step is a whole number to float precision "
            "(~1e-16) or far from one, never 1e-12 to 2e-12 away")

# Survivors that no test can kill: (module, the line as written, the line as mutated) -> why. Lines are
# compared with surrounding whitespace stripped; the score still counts them as survivors. Annotations
# (``x: A | None = ...`` made ``A & None``) are recognised by :func:`_equivalent` and need no entry.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("autobot_lib/live/safety.py",
     "if self.tripped or next_trading_state(0, equity, daily_anchor, self.daily_loss_limit) != HALTED:",
     "if self.tripped or next_trading_state(1, equity, daily_anchor, self.daily_loss_limit) != HALTED:"):
        "the state machine moves ACTIVE (0) and REDUCING (1) alike: only HALTED stays, so the answer compared "
        "with HALTED is the same",
    ("autobot_lib/risk/exits.py",
     "return np.empty((max(1, len(params.tp_ladder)), 3)), np.empty((max(1, len(params.pyramid_levels)), 3))",
     "return np.empty((max(1, len(params.tp_ladder)), 3)), np.empty((max(2, len(params.pyramid_levels)), 3))"):
        "a larger scratch buffer: only the rows the kernel reports filling (n_adds) are read",
    ("autobot_lib/risk/exits.py",
     "return np.empty((max(1, len(params.tp_ladder)), 3)), np.empty((max(1, len(params.pyramid_levels)), 3))",
     "return np.empty((max(2, len(params.tp_ladder)), 3)), np.empty((max(1, len(params.pyramid_levels)), 3))"):
        "a larger scratch buffer: only the rows the kernel reports filling (n_exits) are read",
    ("autobot_lib/risk/exits.py",
     "bool(stop_moved), None if close_reason < 0 else kernel.EXIT_REASONS[int(close_reason)])",
     "bool(stop_moved), None if close_reason < 1 else kernel.EXIT_REASONS[int(close_reason)])"):
        "code 0 is STOP_LOSS, which the kernel never asks for at market (only regime change, exit channel, "
        "holding time): 0 and 'none' are never told apart",
    ("autobot_lib/risk/exits.py",
     "bool(stop_moved), None if close_reason < 0 else kernel.EXIT_REASONS[int(close_reason)])",
     "bool(stop_moved), None if close_reason <= 0 else kernel.EXIT_REASONS[int(close_reason)])"):
        "code 0 is STOP_LOSS, which the kernel never asks for at market (only regime change, exit channel, "
        "holding time): 0 and 'none' are never told apart",
    ("autobot_lib/risk/kernel.py", "_DAY_NS = 86_400 * 10**9", "_DAY_NS = 86_400 * 10**10"):
        "funding intervals divide a day (Binance: 1, 4, 8 h), so ten days are a multiple of them too: the time to "
        "the next settlement is the same",
    ("autobot_lib/live/orders.py", "for attempt in range(self.retries + 1):",
     "for attempt in range(self.retries + 2):"):
        "the try numbered `retries` returns or raises, so no later try is ever reached",
    ("autobot_lib/live/orders.py", 'raise AssertionError("unreachable")', 'raise AssertionError("XXunreachableXX")'):
        "unreachable: every try returns, raises or (before the last) continues",
    ("autobot_lib/risk/kernel.py", "@lru_cache(maxsize=64)", "(line removed)"):
        "kernel_params is pure: the cache changes how often it is computed, not what it returns",
    ("autobot_lib/risk/kernel.py", "@lru_cache(maxsize=64)", "@lru_cache(maxsize=65)"):
        "kernel_params is pure: the cache's size changes how often it is computed, not what it returns",
    ("autobot_lib/risk/kernel.py", "return np.array(rows, dtype=np.float64).reshape(-1, 2)",
     "return np.array(rows, dtype=np.float64).reshape(-2, 2)"):
        "numpy infers a dimension given as any negative number, -2 as -1",
    ("autobot_lib/risk/kernel.py",
     "return float(scale) if scale >= 1 and abs(scale * step - 1.0) < 1e-12 else 0.0",
     "return float(scale) if scale > 1 and abs(scale * step - 1.0) < 1e-12 else 0.0"): _ONE,
    ("autobot_lib/risk/kernel.py",
     "return float(scale) if scale >= 1 and abs(scale * step - 1.0) < 1e-12 else 0.0",
     "return float(scale) if scale >= 2 and abs(scale * step - 1.0) < 1e-12 else 0.0"): _ONE,
    ("autobot_lib/risk/kernel.py",
     "return float(scale) if scale >= 1 and abs(scale * step - 1.0) < 1e-12 else 0.0",
     "return float(scale) if scale >= 1 and abs(scale * step - 1.0) < 2e-12 else 0.0"): _DECIMAL,
    ("autobot_lib/risk/kernel.py",
     "return float(scale) if scale >= 1 and abs(scale * step - 1.0) < 1e-12 else 0.0",
     "return float(scale) if scale >= 1 and abs(scale * step - 1.0) <= 1e-12 else 0.0"): _DECIMAL,
    ("autobot_lib/risk/kernel.py", "x = value * scale if scale > 0 else value / step",
     "x = value * scale if scale > 1 else value / step"): _ONE,
    ("autobot_lib/risk/kernel.py", "return units / scale if scale > 0 else units * step",
     "return units / scale if scale > 1 else units * step"): _ONE,
    ("autobot_lib/risk/kernel.py", "x = qty * m.step_scale if m.step_scale > 0 else qty / m.step",
     "x = qty * m.step_scale if m.step_scale > 1 else qty / m.step"): _ONE,
    ("autobot_lib/risk/kernel.py", "x = price * m.tick_scale if m.tick_scale > 0 else price / m.tick",
     "x = price * m.tick_scale if m.tick_scale > 1 else price / m.tick"): _ONE.replace("step", "tick"),
    ("autobot_lib/risk/kernel.py", "return n / m.tick_scale if m.tick_scale > 0 else n * m.tick",
     "return n / m.tick_scale if m.tick_scale > 1 else n * m.tick"): _ONE.replace("step", "tick"),
    ("autobot_lib/risk/kernel.py", "return to_tick(price, sign > 0, m)", "return to_tick(price, sign >= 0, m)"):
        "a position's sign is +1 or -1, never 0",
    ("autobot_lib/risk/kernel.py", "return to_tick(price, sign < 0, m)", "return to_tick(price, sign <= 0, m)"):
        "a position's sign is +1 or -1, never 0",
    ("autobot_lib/risk/kernel.py",
     "if pos.be_promoted and abs(stop - stop_price(sign, first, m)) <= 1e-12 * abs(first):",
     "if pos.be_promoted and abs(stop - stop_price(sign, first, m)) < 1e-12 * abs(first):"): _GRID,
    ("autobot_lib/risk/kernel.py",
     "if pos.be_promoted and abs(stop - stop_price(sign, first, m)) <= 1e-12 * abs(first):",
     "if pos.be_promoted and abs(stop - stop_price(sign, first, m)) <= 1e-12 / abs(first):"): _GRID,
    ("autobot_lib/risk/kernel.py",
     "if pos.be_promoted and abs(stop - stop_price(sign, first, m)) <= 1e-12 * abs(first):",
     "if pos.be_promoted and abs(stop - stop_price(sign, first, m)) <= 2e-12 * abs(first):"): _GRID,
    ("autobot_lib/risk/kernel.py", "return STOP_LOSS if abs(stop - initial) <= 1e-12 * abs(initial) else TRAILING_STOP",
     "return STOP_LOSS if abs(stop - initial) < 1e-12 * abs(initial) else TRAILING_STOP"): _GRID,
    ("autobot_lib/risk/kernel.py", "return STOP_LOSS if abs(stop - initial) <= 1e-12 * abs(initial) else TRAILING_STOP",
     "return STOP_LOSS if abs(stop - initial) <= 1e-12 / abs(initial) else TRAILING_STOP"): _GRID,
    ("autobot_lib/risk/kernel.py", "return STOP_LOSS if abs(stop - initial) <= 1e-12 * abs(initial) else TRAILING_STOP",
     "return STOP_LOSS if abs(stop - initial) <= 2e-12 * abs(initial) else TRAILING_STOP"): _GRID,
    ("autobot_lib/risk/kernel.py", "if close_reason >= 0:", "if close_reason > 0:"): _NOT_STOP,
    ("autobot_lib/risk/kernel.py", "if close_reason >= 0:", "if close_reason >= 1:"): _NOT_STOP,
    ("autobot_lib/risk/kernel.py", "return held, n_adds, new_stop != stop, -1",
     "return held, n_adds, new_stop != stop, -2"): _NEGATIVE,
    ("autobot_lib/risk/kernel.py", "return pos, n_exits, 0, False, -1, True",
     "return pos, n_exits, 0, False, -2, True"): _NEGATIVE,
    ("autobot_lib/backtest/loop.py", "own = np.full(u + 1 - first, math.nan)",
     "own = np.full(u + 2 - first, math.nan)"): _NAN_TAIL,
    ("autobot_lib/backtest/loop.py", "own = np.full(u + 1 - first, math.nan)",
     "own = np.full(u + 1 + first, math.nan)"): _NAN_TAIL,
    ("autobot_lib/backtest/loop.py", "other = np.empty(u + 1 - first)",
     "other = np.empty(u + 2 - first)"): _UNREAD_TAIL,
    ("autobot_lib/backtest/loop.py", "other = np.empty(u + 1 - first)",
     "other = np.empty(u + 1 + first)"): _UNREAD_TAIL,
    ("autobot_lib/backtest/loop.py", "if remaining > hp[s, SLOT.initial_qty] * 1e-9:",
     "if remaining >= hp[s, SLOT.initial_qty] * 1e-9:"): _DUST,
    ("autobot_lib/backtest/loop.py", "if remaining > hp[s, SLOT.initial_qty] * 1e-9:",
     "if remaining > hp[s, SLOT.initial_qty] * 2e-09:"): _DUST,
    ("autobot_lib/backtest/loop.py", "anchor_day = np.int64(-1)", "anchor_day = np.int64(+1)"): _NO_DAY,
    ("autobot_lib/backtest/loop.py", "anchor_day = np.int64(-1)", "anchor_day = np.int64(-2)"): _NO_DAY,
    ("autobot_lib/backtest/loop.py", "anchor_day = np.int64(-1)", "anchor_day = None"): _NO_DAY,
    ("autobot_lib/backtest/loop.py", "hf = np.zeros((n_sym, 12))", "hf = np.zeros((n_sym, 13))"): _EXTRA_COLUMN,
    ("autobot_lib/backtest/loop.py", "hi = np.zeros((n_sym, 2), dtype=np.int64)",
     "hi = np.zeros((n_sym, 3), dtype=np.int64)"): _EXTRA_COLUMN,
    ("autobot_lib/backtest/loop.py", "n_events = 0", "n_events = 1"): _EVENT_ROWS,
    ("autobot_lib/live/guard.py", "self.task: asyncio.Task | None = None", "self.task: asyncio.Task & None = None"):
        _ANNOTATION,
    ("autobot_lib/live/keeper.py", "self.anchor_day: int | None = None            # days since the epoch (UTC) of the anchor",
     "self.anchor_day: int & None = None            # days since the epoch (UTC) of the anchor"): _ANNOTATION,
    ("autobot_lib/live/guard.py", "self.due = False", "self.due = None"):
        "only read as a condition: None and False are both false (the policy runs again only after a new trip)",
    ("autobot_lib/live/emergency.py", "@dataclass(frozen=True)", "@dataclass(frozen=False)"):
        "nothing assigns to a policy's fields: frozen only forbids what no code does",
    ("autobot_lib/live/emergency.py", "alert: Callable[[str, str], None] = lambda key, text: None) -> list[str]:",
     "alert: Callable[[str, str], None] = lambda key, text: 0) -> list[str]:"):
        "the default alert's return value is never read",
    ("autobot_lib/live/keeper.py", 'roles = {cid.rsplit("-", 1)[-1]: cid for cid in saved.client_order_ids}',
     'roles = {cid.rsplit("-", 1)[+1]: cid for cid in saved.client_order_ids}'):
        "a split in two: its second part is its last",
    ("autobot_lib/live/keeper.py", 'roles = {cid.rsplit("-", 1)[-1]: cid for cid in saved.client_order_ids}',
     'roles = {cid.rsplit("-", 2)[-1]: cid for cid in saved.client_order_ids}'):
        "the last part after a dash is the same however many splits come before it",
    ("autobot_lib/live/keeper.py",
     'generation = int(stop.rsplit("-S", 1)[1]) if stop and stop.rsplit("-S", 1)[-1].isdigit() else 0',
     'generation = int(stop.rsplit("-S", 1)[1]) if stop and stop.rsplit("-S", 2)[-1].isdigit() else 0'):
        "the last part after -S is the same however many splits come before it",
    ("autobot_lib/risk/kernel.py", "mask |= G_LONG_DISABLED", "mask = G_LONG_DISABLED"):
        "the first bit checked: the mask is still 0, so setting and or-ing it are the same",
    ("autobot_lib/risk/kernel.py", "mask |= G_SHORT_DISABLED", "mask = G_SHORT_DISABLED"):
        "the mask is still 0 here (a side is not long and short at once)",
    ("autobot_lib/risk/kernel.py", "mask |= V_HALTED", "mask = V_HALTED"):
        "the first bit checked: the mask is still 0, so setting and or-ing it are the same",
    ("autobot_lib/risk/kernel.py", "mask |= V_REDUCING", "mask = V_REDUCING"):
        "the mask is still 0 here (REDUCING is the else of HALTED)",
    ("autobot_lib/live/execution.py", "if result.filled > 0:        # the average entry as the exchange keeps it",
     "if result.filled >= 0:        # the average entry as the exchange keeps it"):
        "a fill of 0 adds nothing: the same quantity and the same average entry",
    ("autobot_lib/live/execution.py",
     "side = order_side(held.position.side, True) if (exchange.amount > 0) == (held.position.side.sign > 0) \\",
     "side = order_side(held.position.side, True) if (exchange.amount >= 0) == (held.position.side.sign > 0) \\"):
        "an amount of 0 is never closed (checked just before)",
    ("autobot_lib/live/execution.py", 'else ("SELL" if exchange.amount > 0 else "BUY")',
     'else ("SELL" if exchange.amount >= 0 else "BUY")'):
        "an amount of 0 is never closed (checked just before)",
    ("autobot_lib/live/execution.py", "ended, fill = 0, 0.0", "ended, fill = 0, 1.0"):
        "the fill is read only when the bar ended the position, and then it is set",
    ("autobot_lib/backtest/loop.py", "REARM_NEVER, REARM_NEXT_DAY = 0, 1", "REARM_NEVER, REARM_NEXT_DAY = 0, 2"):
        "a code only ever compared with its own name (the backtest engine passes loop.REARM_NEXT_DAY): any value "
        "other than REARM_NEVER's works",
    ("autobot_lib/risk/kernel.py",
     "if p.funding_avoid_min > 0 and minutes_to_funding(now_ns, p.funding_interval_ns) <= p.funding_avoid_min:",
     "if p.funding_avoid_min >= 0 and minutes_to_funding(now_ns, p.funding_interval_ns) <= p.funding_avoid_min:"):
        "the minutes to the next settlement are never 0 (at a settlement the next is a whole interval away): a "
        "0-minute window vetoes nothing either way",
    ("autobot_lib/risk/kernel.py", "return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -1, NO_EQUITY",
     "return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -2, NO_EQUITY"): _NEGATIVE_CODE,
    ("autobot_lib/risk/kernel.py", "return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -1, NO_VOLATILITY",
     "return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -2, NO_VOLATILITY"): _NEGATIVE_CODE,
    ("autobot_lib/risk/kernel.py", "qty, capped = raw, -1", "qty, capped = raw, -2"): _NEGATIVE_CODE,
    ("autobot_lib/risk/kernel.py", "reason = -1", "reason = -2"): _NEGATIVE_CODE,
    ("autobot_lib/risk/kernel.py", "mask |= V_MAX_POSITION_VALUE", "mask = V_MAX_POSITION_VALUE"):
        "the first bit checked: the mask is still 0, so setting and or-ing it are the same",
    ("autobot_lib/risk/kernel.py", "close_reason = -1", "close_reason = -2"):
        "only compared with >= 0 here; the function returns a literal -1 when there is no market exit",
    ("autobot_lib/live/reconcile.py", "side = Side.LONG if ex.amount > 0 else Side.SHORT",
     "side = Side.LONG if ex.amount >= 0 else Side.SHORT"):
        "an amount of 0 never gets here: a flat symbol is handled (or skipped) before",
    ("autobot_lib/live/reconcile.py",
     "if qty > Decimal(str(held.position.qty)):   # more than the books: someone added; the books take it",
     "if qty >= Decimal(str(held.position.qty)):   # more than the books: someone added; the books take it"):
        "for equal quantities taking the exchange's leaves the books' position as it was",
    ("autobot_lib/backtest/costs.py", "if sign > 0:", "if sign >= 0:"):
        "a position's sign is +1 (long) or -1 (short), never 0",
    ("autobot_lib/live/ledger.py", 'opening = "BUY" if position.side.sign > 0 else "SELL"',
     'opening = "BUY" if position.side.sign >= 0 else "SELL"'):
        "a position's side is LONG (+1) or SHORT (-1): its sign is never 0",
}
ANNOTATION = "annotation only: `from __future__ import annotations` keeps it a string that nothing evaluates"


_SIGN = re.compile(r"\b(sign|\.sign)\s*(<=|>=|<|>)\s*(-?\d+)")


def _same_for_a_side(before: str, after: str) -> bool:
    """Do the two lines differ only in a comparison of a position's sign that agrees for +1 and -1?"""
    if _SIGN.sub("", before) != _SIGN.sub("", after):
        return False
    ops = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    truth = [[ops[op](s, int(n)) for s in (-1, 1) for _, op, n in [m.groups()]] for m in _SIGN.finditer(before)], \
        [[ops[op](s, int(n)) for s in (-1, 1) for _, op, n in [m.groups()]] for m in _SIGN.finditer(after)]
    return truth[0] == truth[1] and before != after


def _equivalent(module: str, source: str, before: str, after: str, number: int = 0) -> str | None:
    """Why a survivor is equivalent, or None (``number``: the line's index in ``source``)."""
    if (module, before, after) in EQUIVALENT:
        return EQUIVALENT[module, before, after]
    lines = source.splitlines()
    if module == "autobot_lib/risk/kernel.py" and (before, after) == ("break", "continue") and number and \
            re.search(r"if sign \* \(.*\) < 0:$", lines[number - 1].strip()):
        return "ladder and pyramid levels are increasing (config rejects others): a level not reached means no later one is"
    if module == "autobot_lib/risk/kernel.py" and before == "NO_SIZE = (np.int64(0), 0.0, 0.0, 0.0, math.nan, -1, -1)":
        return ("NO_SIZE goes out only with sized False, and every reader (pipeline.decide, the backtest journal) "
                "reads a size only when sized")
    if module == "autobot_lib/risk/kernel.py" and \
            before == "return outcome, gate, vetoes, sized, size, pos, 0, 0, False, -1, False":
        return ("a flat symbol's step fields (exits, adds, stop moved, close reason, closed) are read only for a held "
                "position: by pipeline.decide and by the backtest journal (engine._record)")
    if _same_for_a_side(before, after):
        return "a position's sign is +1 (long) or -1 (short), never 0: both comparisons agree on it"
    if "from __future__ import annotations" in source and len(before) == len(after):
        changed = [k for k, (a, b) in enumerate(zip(before, after)) if a != b]
        if len(changed) == 1 and before[changed[0]] == "|" and after[changed[0]] == "&" and \
                re.match(r"^\w+\s*:[^=]*$", before[:changed[0]]):
            return ANNOTATION
    return None

# third-party packages the test server imports once (never autobot_lib: that is what gets mutated)
PRELOAD = ("pytest", "_pytest.python", "_pytest.fixtures", "numpy", "pandas", "pyarrow", "aiohttp", "ccxt",
           "ccxt.async_support", "pydantic", "pydantic_settings", "yaml", "httpx", "redis", "prometheus_client",
           "tqdm", "dateutil", "pytest_timeout", "coverage")

_BROKEN = 99                          # the server's exit status when it, not pytest, failed

MUTMUT_CONFIG = '''\
"""Written by tools/mutate.py into the scratch copy: mutmut's hook before each mutant."""


def pre_mutation(context):
    if context.current_source_line.strip().startswith("@njit"):
        context.skip = True          # the identity under AUTOBOT_JIT=0; its options are numba's
        return
    context.config.test_command += f" --line {context.current_line_index + 1}"
'''

# --- the test server: pytest and the third-party imports loaded once, each run forked ------------------


def serve(path: str) -> None:
    """Answer one run at a time: the client sends its pytest arguments and its stdin/stdout/stderr; a forked
    child runs pytest.main on them; the exit status goes back. A client that goes away (mutmut's timeout
    kills it) takes its child's process group with it."""
    import importlib

    sys.dont_write_bytecode = True
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:          # noqa: BLE001 (not installed, or not importable alone: imported by the tests)
            pass
    assert not any(m == "autobot_lib" or m.startswith("autobot_lib.") for m in sys.modules), "preloaded autobot_lib"
    import gc

    gc.freeze()           # what is loaded stays out of every child's collections (pytest collects at exit)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    Path(path).unlink(missing_ok=True)
    server.bind(path)
    server.listen(4)
    while True:
        conn, _ = server.accept()
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = _BROKEN
            try:
                os.setsid()
                import ctypes

                ctypes.CDLL(None, use_errno=True).prctl(1, 9)     # PR_SET_PDEATHSIG: die with the server
                server.close()
                conn.close()
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                    os.close(fd)
                os.chdir(request["cwd"])
                sys.path.insert(0, request["cwd"])
                import pytest
                code = int(pytest.main(request["args"]))
            except BaseException:           # noqa: BLE001 (the server's fault, not the mutant's)
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(conn, select.POLLIN | select.POLLHUP)
        poller.register(pidfd, select.POLLIN)
        status = None
        while status is None:
            for fd, _ in poller.poll():
                if fd == pidfd:
                    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                    break
                try:           # the client went away
                    os.killpg(pid, 9)
                except ProcessLookupError:
                    pass
                status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                break
        os.close(pidfd)
        try:
            conn.sendall(str(status).encode())
        except OSError:
            pass
        conn.close()


def _run_pytest(args: list[str]) -> int:
    """pytest ``args`` run by the server of this copy (the current directory)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(Path(STATE) / "server.sock"))
        socket.send_fds(conn, [json.dumps({"cwd": os.getcwd(), "args": [*PYTEST_ARGS, *args]}).encode()],
                        [0, 1, 2])
        answer = b""
        while chunk := conn.recv(64):
            answer += chunk
    return int(answer or str(_BROKEN).encode())


def run_tests(line: int | None) -> int:
    """mutmut's test command: 0 when the tests pass (the mutant survived), 1 when one fails or cannot run
    (mutmut reads only status 1 as a kill; pytest says 2 for a mutant that breaks an import)."""
    state = Path(STATE) / "selection.json"
    if not state.exists():
        print("tools/mutate.py --run-tests runs in the copy `make mutate` (tools/mutate.py) prepares", file=sys.stderr)
        return 2
    selection = json.loads(state.read_text())
    full = selection["full"]
    if line is not None:
        tests = selection["lines"].get(str(line), [])
        if not tests:
            return 0                      # no test runs this line: it survives
        if tests != "full":
            code = _run_pytest(tests)
            if code not in (0, 5):
                return _broken(line) if code == _BROKEN else 1
            if not selection.get("confirm"):
                return 0                  # the tests that run its line pass: it survives
    code = _run_pytest(full)
    if code == _BROKEN:
        return _broken(line)
    return 0 if code in (0, 5) else 1


def _broken(line: int | None) -> int:
    """A run the server could not make: noted (the report counts them), and not a kill."""
    with open(Path(STATE) / "broken.log", "a") as f:
        f.write(f"{line}\n")
    return 2


# --- which test runs which line -----------------------------------------------------------------------


def _statement_lines(source: str) -> dict[int, frozenset[int]]:
    """Each line -> the lines of the innermost statement that holds it (without nested statements), so a
    mutant on a continuation line finds the tests that ran its statement."""
    tree = ast.parse(source)
    owner: dict[int, tuple[int, ast.stmt]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            span = node.end_lineno - node.lineno
            for n in range(node.lineno, node.end_lineno + 1):
                if n not in owner or owner[n][0] > span:
                    owner[n] = (span, node)
    groups: dict[int, set[int]] = {}
    for n, (_, node) in owner.items():
        groups.setdefault(id(node), set()).add(n)
    return {n: frozenset(groups[id(node)]) for n, (_, node) in owner.items()}


def _items(junit: Path) -> dict[str, float]:
    """The tests the focused selection ran (pytest node ids, with their parameters) and their seconds."""
    import xml.etree.ElementTree as ET

    out: dict[str, float] = {}
    for case in ET.parse(junit).iter("testcase"):
        parts = case.get("classname", "").split(".")          # tests.test_risk(.TestClass)
        module = next((k for k, p in enumerate(parts) if p.startswith("test_")), len(parts) - 1)
        node = "::".join(["/".join(parts[:module + 1]) + ".py", *parts[module + 1:], case.get("name", "")])
        out[node] = out.get(node, 0.0) + float(case.get("time", 0.0))
    return out


def _function(context: str, items: dict[str, float]) -> list[str] | None:
    """coverage's test_function context ('test_risk.test_sizing') as the selection's tests of that
    function (each of its parametrizations the selection ran); None when no test of the selection."""
    functions: dict[str, list[str]] = {}
    for node in items:
        functions.setdefault(node.split("[")[0], []).append(node)
    files = {Path(f.split("::")[0]).stem: f.split("::")[0] for f in functions}
    parts = context.split(".")
    for k in range(len(parts) - 1, 0, -1):
        if parts[k - 1] in files:
            return functions.get("::".join([files[parts[k - 1]], *parts[k:]]))
    return None


def line_selection(copy: Path, module: str, items: dict[str, float]) -> dict:
    """For each line of ``module`` that the focused tests run: the tests that run it, fastest first, or
    "full" when it runs outside any test function (at import, in a fixture, in another thread)."""
    from coverage import CoverageData

    data = CoverageData(str(copy / STATE / "coverage"))
    data.read()
    measured = {Path(f).resolve(): f for f in data.measured_files()}
    source_path = (copy / module).resolve()
    by_line = data.contexts_by_lineno(measured[source_path]) if source_path in measured else {}
    source = source_path.read_text()
    statements = _statement_lines(source)
    lines: dict[str, object] = {}
    for n in range(1, len(source.splitlines()) + 1):
        contexts = set()
        for m in statements.get(n, {n}):
            contexts.update(by_line.get(m, ()))
        if not contexts:
            continue
        found = [_function(c, items) if c else None for c in contexts]
        if None in found:
            lines[str(n)] = "full"
        else:
            lines[str(n)] = sorted({i for f in found for i in f}, key=lambda i: (items[i], i))
    return lines


# --- one module ------------------------------------------------------------------------------------------


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file() and "__pycache__" not in source.parts:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ, AUTOBOT_JIT="0", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(copy),
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    data = Path(os.environ.get("AUTOBOT_TEST_DATA", REPO.parent / "shared" / "data" / "ohlcv"))
    env["AUTOBOT_TEST_DATA"] = str(data)      # the copy is not beside shared/
    env.pop("COVERAGE_PROCESS_START", None)
    return env


_CHILDREN: list[subprocess.Popen] = []     # the servers and mutmut runs, killed with this script


def _stop(*_) -> None:
    for child in _CHILDREN:
        try:
            os.killpg(child.pid, 9)
        except OSError:
            pass
    os._exit(143)


def mutate_module(module: str, workdir: Path, log, exclude: list[str] = (), confirm: bool = False,
                  incremental: bool = False) -> dict:
    """Run mutmut on ``module`` in a fresh copy; its results."""
    started = time.time()
    slug = module.replace("/", "_").removesuffix(".py")
    copy = workdir / slug
    previous = (copy / ".mutmut-cache").read_bytes() if incremental and (copy / ".mutmut-cache").exists() else None
    shutil.rmtree(copy, ignore_errors=True)
    _copy_tree(copy)
    if previous is not None:          # mutmut keeps the killed, and tests again the rest when the tests changed
        (copy / ".mutmut-cache").write_bytes(previous)
    (copy / STATE).mkdir()
    (copy / STATE / "stamp").write_text(json.dumps({"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
                                                     "commit": _commit()}))
    (copy / "mutmut_config.py").write_text(MUTMUT_CONFIG)
    from fnmatch import fnmatch

    selection = [a for a in SELECTIONS[module] if (copy / a.split("::")[0]).exists()
                 and not any(fnmatch(a.split("::")[0], g) for g in exclude)]
    env = _env(copy)
    python = sys.executable
    log(f"{module}: coverage of {len(selection)} test arguments")
    rc = (copy / STATE / "coveragerc")
    rc.write_text("[run]\ndynamic_context = test_function\n")
    covered = subprocess.run(
        [python, "-m", "coverage", "run", f"--rcfile={rc}", f"--data-file={copy / STATE / 'coverage'}",
         f"--include={module}", "-m", "pytest", *PYTEST_ARGS, f"--junitxml={copy / STATE / 'junit.xml'}",
         *selection, *(a for d in DESELECT for a in ("--deselect", d))], cwd=copy, env=env, capture_output=True,
        text=True)
    if covered.returncode != 0:
        raise RuntimeError(f"{module}: the focused tests fail without mutants:\n{covered.stdout[-3000:]}")
    items = _items(copy / STATE / "junit.xml")
    full = sorted(items, key=lambda i: (items[i], i))       # the fastest first: most mutants fail early
    (copy / STATE / "selection.json").write_text(json.dumps(
        {"full": full, "lines": line_selection(copy, module, items), "confirm": confirm}))
    sock = copy / STATE / "server.sock"
    server = subprocess.Popen([python, str(Path(__file__).resolve()), "--serve", str(sock)], cwd=copy, env=env,
                              start_new_session=True)
    _CHILDREN.append(server)
    mutmut = None
    try:
        for _ in range(600):
            if sock.exists():
                break
            time.sleep(0.1)
        log(f"{module}: mutmut run")
        mutmut = subprocess.Popen(
            [str(Path(python).with_name("mutmut")), "run", "--paths-to-mutate", module, "--runner",
             f"{python} {copy / 'tools' / 'mutate.py'} --run-tests", "--tests-dir", "tests/", "--simple-output",
             "--no-progress"], cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        _CHILDREN.append(mutmut)
        output = mutmut.communicate()[0]
    finally:
        if mutmut is not None and mutmut.poll() is None:
            os.killpg(mutmut.pid, 9)           # mutmut, its worker and the test client in flight
            mutmut.wait()
        server.kill()
        server.wait()
    if "Checking mutants" not in output:
        raise RuntimeError(f"{module}: mutmut did not run:\n{output[-3000:]}")
    result = _results(copy, module)
    result["incremental"] = previous is not None
    result["seconds"] = round(time.time() - started)
    (copy / STATE / "seconds").write_text(str(result["seconds"]) + (" incremental" if previous is not None else ""))
    return result


def _results(copy: Path, module: str) -> dict:
    """Statuses from mutmut's cache for the mutants of the module as it is, each survivor with its line
    before and after."""
    from mutmut import ALL, Context, RelativeMutationID, list_mutations, mutate

    db = sqlite3.connect(copy / ".mutmut-cache")
    rows = db.execute('SELECT l.line, l.line_number, m."index", m.status FROM Mutant m JOIN Line l ON m.line = l.id '
                      'JOIN SourceFile s ON l.sourcefile = s.id WHERE s.filename = ?', (module,)).fetchall()
    status = {(line, number, index): state for line, number, index, state in rows}
    source = (copy / module).read_text()
    counts = {"killed": 0, "survived": 0, "skipped": 0, "untested": 0}
    survivors = []
    for mutant in list_mutations(Context(source=source, filename=module, mutation_id=ALL)):
        line, number, index = mutant.line, mutant.line_number, mutant.index
        state = status.get((line, number, index), "untested")
        if state in ("ok_killed", "ok_suspicious", "bad_timeout"):
            counts["killed"] += 1
        elif state == "skipped":
            counts["skipped"] += 1
        elif state == "bad_survived":
            counts["survived"] += 1
            context = Context(source=source, mutation_id=RelativeMutationID(line, index, number), filename=module)
            mutated = mutate(context)[0].splitlines()
            original = source.splitlines()
            after = mutated[number] if len(mutated) == len(original) else "(line removed)"
            survivors.append({"line": number + 1, "before": line.strip(), "after": after.strip(),
                              "equivalent": _equivalent(module, source, line.strip(), after.strip(), number)})
        else:
            counts["untested"] += 1
    total = counts["killed"] + counts["survived"] + counts["untested"]
    broken = copy / STATE / "broken.log"
    counts["broken"] = len(broken.read_text().split()) if broken.exists() else 0
    survivors.sort(key=lambda s: (s["line"], s["after"]))
    return {"module": module, **counts, "total": total, "score": counts["killed"] / total if total else 1.0,
            "survivors": survivors}


# --- the report ------------------------------------------------------------------------------------------


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "autobot_lib", "tests"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return head + (" + uncommitted changes" if dirty else "")


def _table(results: list[dict]) -> list[str]:
    rows = ["| module | killed | survived | of which equivalent | not run | total | score | skipped (@njit) | date "
            "| commit | run |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |"]
    for r in results:
        equivalent = sum(1 for s in r["survivors"] if s["equivalent"])
        run = "cut short" if r.get("seconds") is None else f"{r['seconds']} s" + \
            (" (survivors of the last run only)" if r.get("incremental") else "")
        rows.append(f"| `{r['module']}` | {r['killed']} | {r['survived']} | {equivalent} | {r.get('untested', 0)} | "
                    f"{r['total']} | {r['score']:.1%} | {r['skipped']} | {r['date']} | `{r['commit']}` | {run} |")
    return rows


def write_scores(results: list[dict]) -> None:
    """Replace the given modules' rows (and survivors) in docs/mutation-scores.md, keeping the others."""
    previous = {}
    if SCORES.exists():
        found = re.search(r"<!-- scores\n(.*?)\n-->", SCORES.read_text(), re.S)
        if found:
            previous = {r["module"]: r for r in json.loads(found.group(1))}
    previous.update({r["module"]: r for r in results})
    order = list(SELECTIONS)
    merged = sorted(previous.values(), key=lambda r: order.index(r["module"]) if r["module"] in order else 99)
    total = {k: sum(r[k] for r in merged) for k in ("killed", "survived", "total")}
    lines = [
        "# Mutation scores of the money path",
        "",
        "Written by `make mutate` (`tools/mutate.py`: mutmut 2, `AUTOBOT_JIT=0`, each module against its "
        "focused tests; see the script for the selections and for why mutmut 2). A mutant is killed when a "
        "test fails, errors or times out on it; the score is killed / total, survivors included (equivalent or "
        "not). The mutants of `@njit(...)` lines are skipped (the identity without numba). Target: at least "
        "90 % killed in every module; every survivor is listed below, equivalent with the reason no test can "
        "tell it from the original, or UNEXPLAINED. A row's date and commit are those of its last run (a "
        "commit marked with uncommitted changes was measured on the work tree); `--incremental` runs test "
        "again only the mutants the last run left alive.",
        "",
        *_table(merged),
        *(f"| `{m}` | not run yet | | | | | | | | | |" for m in SELECTIONS if m not in previous),
        f"| all | {total['killed']} | {total['survived']} | | | {total['total']} | "
        f"{total['killed'] / max(total['total'], 1):.1%} | | | | |",
        "",
        "## Survivors",
        "",
    ]
    for r in merged:
        if not r["survivors"]:
            continue
        lines += [f"### `{r['module']}`", ""]
        for s in r["survivors"]:
            why = s["equivalent"] or "**UNEXPLAINED: kill it with a test or list it in tools/mutate.py EQUIVALENT**"
            lines.append(f"- line {s['line']}: `{s['before']}` -> `{s['after']}`: {why}")
        lines.append("")
    lines += ["<!-- scores", json.dumps(merged, indent=None), "-->", ""]
    SCORES.parent.mkdir(exist_ok=True)
    SCORES.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: [tool.mutmut] paths_to_mutate)")
    parser.add_argument("--jobs", type=int, default=1, help="modules mutated at once (each in its own copy)")
    parser.add_argument("--workdir", help="where the copies go (default: a temporary folder, removed after)")
    parser.add_argument("--survivors", action="store_true", help="print every survivor")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave these tests out of every selection (e.g. 'tests/test_mutants_*' for the score "
                             "of the other tests)")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {SCORES.relative_to(REPO)}")
    parser.add_argument("--confirm", action="store_true",
                        help="run the whole focused selection on a mutant the tests of its line let survive")
    parser.add_argument("--incremental", action="store_true",
                        help="start from the module's last run in --workdir: its killed mutants stay killed, the "
                             "others are tested again when the tests changed (mutmut's cache)")
    parser.add_argument("--reuse", action="store_true",
                        help="report a module already run in --workdir from its results there, without running it")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--run-tests", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--line", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.run_tests:
        return run_tests(args.line)

    configured = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]["paths_to_mutate"]
    modules = args.modules or [m.strip() for m in configured.split(",") if m.strip()]
    unknown = [m for m in modules if m not in SELECTIONS]
    if unknown:
        parser.error(f"no focused tests for {unknown}: add them to SELECTIONS")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="autobot-mutate-"))
    workdir.mkdir(parents=True, exist_ok=True)
    date, commit = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), _commit()
    started = time.time()

    def log(text: str) -> None:
        print(f"[{time.time() - started:6.0f} s] {text}", flush=True)

    def one(module: str) -> dict:
        copy = workdir / module.replace("/", "_").removesuffix(".py")
        if args.reuse and (copy / ".mutmut-cache").exists():
            result = _results(copy, module)           # a run cut short has mutants not run: the table says so
            done = copy / STATE / "seconds"
            result["seconds"] = int(done.read_text().split()[0]) if done.exists() else None
            result["incremental"] = done.exists() and "incremental" in done.read_text()
            stamp = copy / STATE / "stamp"
            result.update(json.loads(stamp.read_text()) if stamp.exists() else {"date": date, "commit": commit})
            return result
        result = mutate_module(module, workdir, log, args.exclude, args.confirm, args.incremental)
        result.update(json.loads((copy / STATE / "stamp").read_text()))
        log(f"{module}: {result['killed']}/{result['total']} killed ({result['score']:.1%}), "
            f"{result['survived']} survived, {result['skipped']} skipped, {result['seconds']} s" +
            (f", {result['broken']} runs the test server could not make (counted as survivors)" if result["broken"] else ""))
        return result

    signal.signal(signal.SIGTERM, _stop)          # a kill stops the servers and mutmut runs too
    signal.signal(signal.SIGINT, _stop)
    try:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(one, modules))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'module':40} {'killed':>7} {'survived':>9} {'total':>6} {'score':>7}  unexplained")
    failing = False
    for r in results:
        unexplained = [s for s in r["survivors"] if not s["equivalent"]]
        failing |= r["score"] < TARGET or bool(unexplained)
        print(f"{r['module']:40} {r['killed']:7} {r['survived']:9} {r['total']:6} {r['score']:7.1%}  {len(unexplained)}")
        for s in r["survivors"] if args.survivors else unexplained:
            print(f"    line {s['line']}: {s['before']}  ->  {s['after']}" +
                  (f"   [{s['equivalent']}]" if s["equivalent"] else ""))
    print(f"total {time.time() - started:.0f} s" + (" (results reused)" if args.reuse else ""))
    if not args.no_write:
        write_scores(results)
        print(f"wrote {SCORES.relative_to(REPO)}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
