"""The CloudWatch metric-math subset this project writes (numbers, + - * /, comparisons,
AND, OR, IF, FILL), evaluated at one data point, so tests can check what an alarm or a
scaling policy computes from given metric values.

It is not CloudWatch: it checks our expressions' arithmetic. Whether CloudWatch evaluates
them the same way is for the tests that run against AWS."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|>=|<=|[-+*/(),<>]))")
_FUNCTIONS = {
    "IF": lambda condition, yes, no: yes if condition else no,
    "FILL": lambda value, fill: fill if value is None else value,
}


def evaluate(queries: Sequence[Mapping[str, Any]], values: Mapping[str, float | None]) -> float | None:
    """The returned series' value, given each metric query's value by id (None: no data).

    ``queries`` are in wire form, as the plan records them: ``{"id", "expression"}`` for
    expressions, anything else is a metric."""
    env: dict[str, Any] = {}
    for q in queries:
        env[q["id"]] = _evaluate(q["expression"], env) if q.get("expression") else values.get(q["id"])
    [returned] = [q["id"] for q in queries if q.get("returnData")]
    return env[returned]


def _evaluate(expression: str, env: Mapping[str, Any]) -> Any:
    python, position = [], 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ValueError(f"unsupported metric math at {expression[position:]!r}")
        number, name, operator = match.groups()
        if name is not None:
            if name in ("AND", "OR"):
                python.append(f" {name.lower()} ")
            elif name in _FUNCTIONS or name in env:
                python.append(name)
            else:
                raise ValueError(f"unknown id or function {name!r} in {expression!r}")
        else:
            python.append(number or operator)
        position = match.end()
    try:
        return eval("".join(python), {"__builtins__": {}}, {**_FUNCTIONS, **env})  # the tokens are checked above
    except TypeError:  # arithmetic on a metric with no data: the series has no data point
        return None
