"""Repeated measurements: median with min–max."""

import statistics
from dataclasses import dataclass


@dataclass
class Series:
    values: list

    @property
    def median(self):
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def lo(self):
        return min(self.values) if self.values else float("nan")

    @property
    def hi(self):
        return max(self.values) if self.values else float("nan")


def of(runs, attr):
    return Series([getattr(r, attr) for r in runs])
