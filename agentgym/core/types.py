"""Named results shared across modules."""

from __future__ import annotations

import math
from typing import NamedTuple


class Interval(NamedTuple):
    """A point estimate with a confidence interval."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        def clean(value: float) -> float | None:
            return None if value is None or not math.isfinite(value) else float(value)

        return {"mean": clean(self.mean), "ci_low": clean(self.low), "ci_high": clean(self.high)}
