"""`Limit`: the range one setting may take, declared once beside the field it bounds, and the JSON
type checks every config applies to what a file (anyone's config.json) hands it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ganlab.errors import GanlabError

# torch.Generator takes any 64-bit seed, but numpy's legacy RandomState and many UIs stop at 2**31.
MAX_SEED = 2**31 - 1


def shown(value: Any, limit: int = 80) -> str:
    """repr(value), cut short: a 5,000-digit "number" must not become a 5,000-character message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class Limit:
    """The range one setting may take, declared once beside the field it bounds.

    The config dataclasses, the Lab (UI and API) and the command-line types all ask `check`,
    so a setting has one range and one message everywhere.
    """

    label: str  # how messages name the setting
    low: float
    high: float
    integer: bool = False
    open_low: bool = False  # True: `low` itself is refused

    def describe(self, high: float | None = None) -> str:
        """'an integer in [1, 20000]' or 'a number in (0, 0.1]' (`high` narrows the range)."""
        high = self.high if high is None else high
        if self.integer:
            return f"an integer in [{int(self.low)}, {int(high)}]"
        return f"a number in {'(' if self.open_low else '['}{self.low:g}, {high:g}]"

    def check(self, value: Any, *, high: float | None = None, label: str | None = None, text: bool = False) -> Any:
        """`value` as an int (or float) inside the range, or a GanlabError that names the range.

        text=True also reads numbers written as text, as UI fields, API clients and a command
        line send them; `high` narrows the range (a deployment cap below the config's own).
        """
        high = self.high if high is None else min(high, self.high)
        number = value
        if text and isinstance(number, str):
            try:
                number = (int if self.integer else float)(number.strip())
            except ValueError:  # also a string of more than 4,300 digits
                pass
        if self.integer and isinstance(number, float) and number.is_integer():
            number = int(number)
        kinds = int if self.integer else (int, float)
        ok = isinstance(number, kinds) and not isinstance(number, bool)
        ok = ok and (isinstance(number, int) or math.isfinite(number))  # isfinite(10**400) overflows
        ok = ok and (self.low < number if self.open_low else self.low <= number) and number <= high
        if not ok:
            raise GanlabError(f"{label or self.label} must be {self.describe(high)}, got {shown(value)}")
        return int(number) if self.integer else float(number)


def bounded(default: Any, label: str, low: float, high: float, *, integer: bool = False, open_low: bool = False) -> Any:
    """A dataclass field whose range (a Limit) travels in its metadata; see `limit`."""
    return dataclasses.field(default=default, metadata={"limit": Limit(label, low, high, integer, open_low)})


def limit(config_class: type, name: str) -> Limit:
    """The Limit declared on field `name` of a config dataclass."""
    for item in dataclasses.fields(config_class):
        if item.name == name and "limit" in item.metadata:
            return item.metadata["limit"]
    raise KeyError(f"{config_class.__name__}.{name} declares no limit")


# the JSON type each kind of annotation must arrive as (a config.json or training.json may hold anything)
_JSON_TYPES = {"bool": (bool,), "str": (str,), "tuple": (tuple, list)}


def _check_fields(config: Any) -> None:
    """Check each field's JSON type (a bool is a bool, a str a str, a list a list), then (and
    normalise: 5.0 -> 5) every field that declares a Limit."""
    for item in dataclasses.fields(config):
        annotation = str(item.type)
        kinds = _JSON_TYPES.get(annotation.split("[")[0])
        value = getattr(config, item.name)
        if kinds is not None and not isinstance(value, kinds):
            raise GanlabError(f"{type(config).__name__} field {item.name!r} must be a {annotation.split('[')[0].replace('tuple', 'list')}, got {shown(value)}")
    for item in dataclasses.fields(config):
        if "limit" in item.metadata:
            object.__setattr__(config, item.name, item.metadata["limit"].check(getattr(config, item.name)))
