"""Where the kernels are compiled, or not: numba's ``njit``, or the same functions left to the interpreter.

The kernels (indicator steps, the decision step, costs, the backtester's loop) are written once. A
backtest or a sweep runs each of them millions of times, so they are compiled. The live bot runs them
once per symbol per closed bar, where the interpreter takes about a tenth of a millisecond; compiled,
numba and LLVM would hold some 115 MB more of its memory (``bench/live.py``: 243 MB against 360 MB with
100 symbols) and, on a fresh install, compile for seconds before the first decision.

``AUTOBOT_JIT=0`` in the environment, read when this module is first imported, leaves the kernels to the
interpreter and numba is not even imported. ``autobot live`` sets it unless ``AUTOBOT_JIT`` is set already
(``AUTOBOT_JIT=1 autobot live ...`` compiles). Same source, two executors:
``tests/test_jit.py`` proves they give the same results, bit for bit.
"""

from __future__ import annotations

import os

_SETTING = os.environ.get("AUTOBOT_JIT", "1").strip()
if _SETTING not in ("0", "1"):
    raise ValueError(f"AUTOBOT_JIT must be 1 (compile the kernels) or 0 (interpret them), got {_SETTING!r}: "
                     "fix or unset it")
ENABLED = _SETTING == "1"

if ENABLED:
    from numba import njit
else:
    def njit(function=None, **options):
        """``numba.njit``'s signature (``@njit`` and ``@njit(cache=True, ...)``), returning the function."""
        return function if function is not None else (lambda f: f)

__all__ = ["ENABLED", "njit"]
