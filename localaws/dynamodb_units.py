"""What DynamoDB bills: item sizes as its developer guide computes them, and the capacity units they cost.

Sizes ("DynamoDB item sizes and formats", CapacityUnitCalculations): every attribute costs its name's UTF-8
bytes plus its value's size; a string its UTF-8 bytes; a number 1 byte per two significant digits plus 1; a
binary its raw bytes; a Boolean or null 1 byte; a list or map 3 bytes plus its elements, each element 1 byte
more. Units ("Read/write capacity mode"): a write unit covers 1 KiB of the whole item, a read unit 4 KiB read
strongly consistent (half of it eventually consistent), a transaction doubles both.
"""

from __future__ import annotations

import base64
import math
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0]
    significant = digits.strip("0") or "0"
    return (len(significant) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one typed attribute value ({"S": ...}, {"N": ...}, {"M": {...}}, ...), without its name."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))


def read_units(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """Units of one read of `size` bytes (a Query's items are summed first, then rounded up once)."""
    units = float(max(1, math.ceil(size / READ_UNIT_BYTES)))
    if transactional:
        return units * 2
    return units if consistent else units / 2
