"""Bounded JSON: nesting depth is measured before the C decoder ever sees the text.

Importing py-evm / py_ecc raises Python's recursion limit to 100,000 process-wide,
so the C JSON decoder's own ``RecursionError`` guard comes far too late: a body of
``'[' * 100000`` overflows the C stack and kills the process. :func:`nesting_depth`
counts brackets outside strings with regular expressions (linear time, no recursion),
and :func:`loads_bounded` refuses text nested deeper than its limit before decoding.
Integers longer than :data:`MAX_INT_DIGITS` digits and the constants NaN/Infinity are
refused too, so the decoder never builds huge numbers.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
MAX_INT_DIGITS = 40  # far above any field's range; a timestamp has 10

# a string, or an unterminated one running to the end (so every quote matches once:
# no quadratic rescans); possessive, so no backtracking either
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonDepthError(ValueError):
    """The text nests arrays/objects deeper than allowed."""


def nesting_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside JSON strings (0 for a scalar)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(_STEP[c] for c in brackets), default=0)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(text)} digits is too long")
    return int(text)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int)


def loads_bounded(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting, huge integers and NaN/Infinity.

    Raises :class:`JsonDepthError` or another ``ValueError`` (never RecursionError).
    """
    opens = text.count("[") + text.count("{")  # depth <= opens: most texts stop here
    if opens > max_depth and nesting_depth(text) > max_depth:
        raise JsonDepthError(f"nested deeper than {max_depth} levels")
    try:
        return _DECODER.decode(text)
    except RecursionError:  # cannot happen below max_depth; kept as a last guard
        raise JsonDepthError(f"nested deeper than {max_depth} levels") from None
