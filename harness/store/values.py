"""Column values as the database holds them: UTC times, finite floats, JSON data."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from ..jsondata import to_json_data


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def finite(value: Any) -> float | None:
    """A float, or None for None / NaN / inf (stored as SQL NULL on every backend)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """JSON column data: non-finite floats as null, unknown objects as text."""
    return to_json_data(value, nonfinite="null")
