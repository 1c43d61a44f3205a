"""What a benchmark prints: a short table for people, then one JSON line for scripts."""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Report:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # label, value with its unit
    figures: dict[str, float | int | bool] = field(default_factory=dict)

    def lines(self) -> list[str]:
        width = max((len(label) for label, _ in self.rows), default=0)
        table = [f"  {label.ljust(width)}  {value}" for label, value in self.rows]
        return [self.title, *table, json.dumps(self.figures, sort_keys=True)]


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The sample at ``fraction`` (0.5: median, 0.99: p99), by the nearest-rank rule."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]
