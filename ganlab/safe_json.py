"""JSON from files anyone may have written (a Hub repo's config.json, a metrics file): bounded and one-line.

Why not plain json.loads: it raises RecursionError on deep nesting and a ValueError that
suggests sys.set_int_max_str_digits on long integers, both tracebacks for a user.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ganlab.errors import GanlabError

# A config is ~200 bytes and training.json a few KB, three levels deep.
MAX_JSON_DEPTH = 32
MAX_JSON_DIGITS = 30  # an integer literal's digits; every ganlab number fits in 20


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_JSON_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_JSON_DIGITS})")
    return int(text)


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), walked without recursion."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str | bytes, *, source: str) -> Any:
    """JSON from an untrusted file, or a one-line GanlabError naming `source`."""
    try:
        data = json.loads(text, parse_int=_bounded_int)
    except RecursionError:
        raise GanlabError(f"{source} nests deeper than {MAX_JSON_DEPTH} levels; it is not a ganlab file") from None
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise GanlabError(f"{source} is not valid JSON: {error}") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise GanlabError(f"{source} nests deeper than {MAX_JSON_DEPTH} levels; it is not a ganlab file")
    return data


def read_json(path: str | os.PathLike, *, max_bytes: int, source: str | None = None) -> Any:
    """A JSON file of at most `max_bytes` (more is refused unread), parsed by parse_json."""
    source = source or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise GanlabError(f"{source} cannot be read: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise GanlabError(f"{source} is larger than {max_bytes:,} bytes; it is not a ganlab file")
    return parse_json(data, source=source)
