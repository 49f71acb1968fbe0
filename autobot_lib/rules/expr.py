"""Rule conditions: a small, safe expression language over feature columns, compiled once.

    "ema_short > ema_long and rsi > 50"
    "cross_above(macd, macd_signal) and adx >= adx_minimum"
    "volume > 2 * volume_sma and close > prev(close)"

Allowed: feature names, numbers, + - * /, comparisons (chainable), and / or / not, and the functions
``prev(x, k=1)`` (x k bars ago), ``cross_above(a, b)``, ``cross_below(a, b)``, ``abs``, ``min``, ``max``.
Nothing else parses, so a params file can never run code.

A compiled condition evaluates over whole arrays (every bar at once) and, given only the last
``lookback + 1`` rows, on the latest bar: the same element-wise code either way, so both agree.
A comparison with NaN (warm-up) is False: a rule never fires on a feature that does not exist yet.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

Columns = Mapping[str, np.ndarray]
Shared = dict | None        # subexpression text -> its value over these columns, shared by the conditions of one evaluation
_Eval = Callable[[Columns, Shared], np.ndarray]


class ConditionError(ValueError):
    """A condition that does not parse or names a feature that does not exist."""


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


_COMPARE = {ast.Gt: np.greater, ast.GtE: np.greater_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
            ast.Eq: np.equal, ast.NotEq: np.not_equal}
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_FUNCTIONS = ("prev", "cross_above", "cross_below", "abs", "min", "max")


@dataclass(frozen=True)
class Condition:
    """A compiled condition: its text, the feature columns it reads, and how many past bars it needs."""

    text: str
    columns: frozenset[str]
    lookback: int
    _fn: _Eval

    def __call__(self, columns: Columns, shared: Shared = None) -> np.ndarray:
        """The condition on every row of ``columns``. ``shared``: a dict that the conditions of one rule set
        evaluated over the same columns pass along, so that a subexpression several of them read
        (``ema_short > ema_long``, ``prev(atr, 10)``) is computed once; values are never changed in place."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self._fn(columns, shared), dtype=bool)

    def check_columns(self, available: set[str] | frozenset[str]) -> None:
        missing = sorted(self.columns - set(available))
        if missing:
            hints = [f"{m} (did you mean {', '.join(difflib.get_close_matches(m, available, 2)) or '?'})"
                     for m in missing]
            raise ConditionError(f"condition {self.text!r} reads unknown feature(s): {'; '.join(hints)}")


def compile_condition(text: str) -> Condition:
    """Parse and compile ``text``; raises :class:`ConditionError` with the reason when it is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(f"a condition must be a non-empty expression, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConditionError(f"condition {text!r} does not parse: {exc.msg}") from None
    columns: set[str] = set()
    fn, lookback = _compile(tree, text, columns)
    return Condition(text, frozenset(columns), lookback, fn)


def _compile(node: ast.AST, text: str, columns: set[str]) -> tuple[_Eval, int]:
    fn, lookback = _compile_node(node, text, columns)
    if isinstance(node, (ast.Name, ast.Constant)):
        return fn, lookback
    key = ast.dump(node)            # the same for the same subexpression, however it is spaced

    def shared_value(c: Columns, shared: Shared) -> np.ndarray:
        if shared is None:
            return fn(c, shared)
        try:
            return shared[key]
        except KeyError:
            value = shared[key] = fn(c, shared)
            return value
    return shared_value, lookback


def _compile_node(node: ast.AST, text: str, columns: set[str]) -> tuple[_Eval, int]:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, text, columns) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def boolop(c: Columns, s: Shared, parts=parts, combine=combine) -> np.ndarray:
            out = np.asarray(parts[0][0](c, s), dtype=bool)
            for f, _ in parts[1:]:
                out = combine(out, np.asarray(f(c, s), dtype=bool))
            return out
        return boolop, max(lb for _, lb in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner, lb = _compile(node.operand, text, columns)
        return (lambda c, s: np.logical_not(np.asarray(inner(c, s), dtype=bool))), lb
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner, lb = _compile(node.operand, text, columns)
        return (lambda c, s: np.negative(inner(c, s))), lb
    if isinstance(node, ast.Compare):
        operands = [_compile(n, text, columns) for n in (node.left, *node.comparators)]
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ConditionError(f"condition {text!r}: comparison {type(op).__name__} is not allowed")
            ops.append(_COMPARE[type(op)])

        def compare(c: Columns, s: Shared, operands=operands, ops=ops) -> np.ndarray:
            values = [f(c, s) for f, _ in operands]
            out = ops[0](values[0], values[1])
            for i, op in enumerate(ops[1:], start=1):
                out = np.logical_and(out, op(values[i], values[i + 1]))
            return out
        return compare, max(lb for _, lb in operands)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise ConditionError(f"condition {text!r}: operator {type(node.op).__name__} is not allowed")
        (left, lbl), (right, lbr) = _compile(node.left, text, columns), _compile(node.right, text, columns)
        op = _ARITH[type(node.op)]
        return (lambda c, s: op(left(c, s), right(c, s))), max(lbl, lbr)
    if isinstance(node, ast.Name):
        name = node.id
        columns.add(name)
        return (lambda c, s: _column(c, name)), 0
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = float(node.value)
        return (lambda c, s: value), 0
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _call(node, text, columns)
    raise ConditionError(f"condition {text!r}: {ast.unparse(node)!r} is not allowed; use feature names, numbers, "
                         f"+ - * /, comparisons, and/or/not and {', '.join(_FUNCTIONS)}")


def _call(node: ast.Call, text: str, columns: set[str]) -> tuple[_Eval, int]:
    name = node.func.id
    args = node.args
    if name == "prev":
        k = 1
        if len(args) == 2:
            if not (isinstance(args[1], ast.Constant) and isinstance(args[1].value, int) and args[1].value >= 1):
                raise ConditionError(f"condition {text!r}: prev(x, k) needs a whole number k >= 1")
            k = args[1].value
        elif len(args) != 1:
            raise ConditionError(f"condition {text!r}: prev takes (x) or (x, k)")
        inner, lb = _compile(args[0], text, columns)
        return (lambda c, s: _shift(np.asarray(inner(c, s), dtype=np.float64), k)), lb + k
    if name in ("cross_above", "cross_below"):
        if len(args) != 2:
            raise ConditionError(f"condition {text!r}: {name} takes two arguments")
        (a, la), (b, lb) = _compile(args[0], text, columns), _compile(args[1], text, columns)
        above = name == "cross_above"

        def cross(c: Columns, s: Shared) -> np.ndarray:
            x = np.asarray(a(c, s), dtype=np.float64) - np.asarray(b(c, s), dtype=np.float64)
            x = np.broadcast_to(x, _length(c)).astype(np.float64)
            before = _shift(x, 1)
            return (x > 0) & (before <= 0) if above else (x < 0) & (before >= 0)
        return cross, max(la, lb) + 1
    if name in ("abs", "min", "max"):
        parts = [_compile(a, text, columns) for a in args]
        if (name == "abs" and len(parts) != 1) or (name != "abs" and len(parts) != 2):
            raise ConditionError(f"condition {text!r}: {name} takes {'one argument' if name == 'abs' else 'two'}")
        fn = {"abs": np.abs, "min": np.fmin, "max": np.fmax}[name]
        return (lambda c, s: fn(*[f(c, s) for f, _ in parts])), max(lb for _, lb in parts)
    raise ConditionError(f"condition {text!r}: unknown function {name!r}; allowed: {', '.join(_FUNCTIONS)}")


def _column(columns: Columns, name: str) -> np.ndarray:
    try:
        return columns[name]
    except KeyError:
        raise ConditionError(f"unknown feature {name!r}; available: {', '.join(sorted(columns))}") from None


def _length(columns: Columns) -> tuple[int]:
    return (len(next(iter(columns.values()))),)
