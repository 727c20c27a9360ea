"""A safe arithmetic evaluator: numbers, ``+ - * / **``, parentheses and unary minus, nothing else.

The expression is parsed with :mod:`ast` and walked over a whitelist of node types; it is never
handed to ``eval``/``exec``. Names, attributes, calls, subscripts, comparisons, containers,
strings, booleans and complex numbers are refused, as are inputs longer than ``MAX_LENGTH``,
exponents with ``|exponent| > MAX_EXPONENT`` and any intermediate value with magnitude above
``MAX_MAGNITUDE``. Allowed expressions evaluate exactly as Python evaluates them.

Example:
    >>> safe_eval("(2 + 3) * -4 / 8")
    -2.5
    >>> try:
    ...     safe_eval("__import__('os')")
    ... except UnsafeExpression as exc:
    ...     print(exc)
    not allowed in an expression: Call
"""

from __future__ import annotations

import ast
import math
import operator
import warnings

MAX_LENGTH = 200
MAX_EXPONENT = 100
MAX_MAGNITUDE = 1e100

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}


class UnsafeExpression(ValueError):
    """The expression is not plain arithmetic, is too long, or its value is out of bounds."""


def _checked(value: int | float) -> int | float:
    if isinstance(value, complex):
        raise UnsafeExpression("the result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeExpression("the result is not finite")
    if abs(value) > MAX_MAGNITUDE:
        raise UnsafeExpression(f"a value exceeds {MAX_MAGNITUDE:g} in magnitude")
    return value


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant):
        value = node.value
        # a parsed constant is exactly an int, float, bool, str, bytes, complex, None or Ellipsis: all but
        # the first two are refused (bool is an int subclass)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise UnsafeExpression(f"not a number: {type(value).__name__}")
        return _checked(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _checked(-_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise UnsafeExpression(f"exponent {right!r} exceeds {MAX_EXPONENT} in magnitude")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except (ZeroDivisionError, OverflowError) as exc:
            raise UnsafeExpression(f"{type(exc).__name__}: {exc}") from None
    name = type(node.op).__name__ if isinstance(node, (ast.UnaryOp, ast.BinOp)) else type(node).__name__
    raise UnsafeExpression(f"not allowed in an expression: {name}")


def safe_eval(expression: str) -> int | float:
    """Value of an arithmetic expression; raises :class:`UnsafeExpression` for anything else."""
    if not isinstance(expression, str):
        raise UnsafeExpression("the expression must be a string")
    if len(expression) > MAX_LENGTH:
        raise UnsafeExpression(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning on odd literals
            tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnsafeExpression(f"not a valid expression ({type(exc).__name__})") from None
    try:
        return _evaluate(tree.body)
    except RecursionError:
        raise UnsafeExpression("the expression is nested too deeply") from None
