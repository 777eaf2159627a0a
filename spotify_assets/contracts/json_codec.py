"""JSON parsed and written by orjson wherever that gives exactly what the standard library's `json` gives.

orjson parses 2-3x and writes 5x faster than `json`, and a million-row export is parsed twice and written
once on its way to silver. Its results differ from `json`'s in a few places, and there `json` is used:
- a number that is not a 64-bit integer: orjson reads a larger integer as a float, and writes some floats
  in another form (`0.00001` for `1e-05`); so a value holding any float is parsed and written by `json`;
- text `json` accepts and orjson refuses (NaN, Infinity, a lone surrogate such as `\\ud800`, a byte-order
  mark): `json` parses it (or raises its own error, as it did before);
- a value orjson cannot write (a lone surrogate, an integer beyond 64 bits, a key that is not a string):
  `None` from `dumps_exact`, for the caller's own `json` path.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from itertools import chain
from typing import Any

import orjson

_PLAIN = frozenset({str, int, bool, type(None), dict, list})
_CONTAINERS = frozenset({dict, list})
_ONLY_DICTS = {dict}


def is_plain(value: Any) -> bool:
    """Whether a value holds only JSON's strings, integers, booleans, nulls, objects and arrays (no float,
    and nothing `json` would refuse or write otherwise, such as a subclass of str or a datetime)."""
    pending: list[Collection[Any]] = [(value,)]
    while pending:
        values = pending.pop()
        types = set(map(type, values))
        if not types <= _PLAIN:
            return False
        if dict in types:
            # The values of all the objects at once (a list of a million rows: one pass in C, no list built).
            objects = values if types == _ONLY_DICTS else [v for v in values if type(v) is dict]
            inner = set(map(type, chain.from_iterable(map(dict.values, objects))))
            if not inner <= _PLAIN:
                return False
            if inner & _CONTAINERS:
                pending.append([v for o in objects for v in o.values() if type(v) in _CONTAINERS])
        if list in types:
            pending.extend(v for v in values if type(v) is list)
    return True


def parse(data: bytes) -> tuple[Any, bool]:
    """`json.loads(data.decode("utf-8"))`, from orjson when its result is the same (see the module), and
    whether the value is plain (`is_plain`: `dumps_plain` writes it as `json` would)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data.decode("utf-8")), False
    if is_plain(value):
        return value, True
    return json.loads(data.decode("utf-8")), False


def loads(data: bytes) -> Any:
    """`json.loads(data.decode("utf-8"))`, from orjson when its result is the same (see the module)."""
    return parse(data)[0]


def dumps_plain(values: Iterable[Any]) -> list[bytes]:
    """Each of `values`, plain ones (`parse` said so), as `dumps_exact` writes it, without checking them."""
    return list(map(orjson.dumps, values))


def dumps_exact(value: Any) -> bytes | None:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))` as UTF-8 bytes, written by orjson;
    None where orjson's text could differ or it cannot write the value (the caller then uses `json`)."""
    if not is_plain(value):
        return None
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer beyond 64 bits, a key not a str
        return None
