"""Interleaved timing: every candidate measured in turn, window after window, in one process.

Measuring the candidates of a comparison one after the other lets a change in
machine load (other processes, thermal or turbo state) favour whichever ran
in the quiet moment. Here every round times one window of each candidate,
rotating the order each round, so slow spells hit all of them alike; the
reported figure is the median window, and the spread (min, max) is kept.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass
class Candidate:
    """One contender: ``step()`` processes ``items`` images (one batch, or one training step).

    ``window(steps)`` may replace the plain loop of ``steps`` calls, returning
    the seconds it measured itself for ``steps`` steps (e.g. ``model.fit``
    timed from a callback, so that per-call set-up is left out).
    """

    name: str
    items: int
    step: Callable[[], Any] | None = None
    window: Callable[[int], float] | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def run(self, steps: int) -> float:
        """Seconds for ``steps`` steps."""
        if self.window is not None:
            return self.window(steps)
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return time.perf_counter() - start


@dataclasses.dataclass(frozen=True)
class Measurement:
    """A candidate's windows: ``items_per_s`` of each, and ``ms_per_step`` (latency per call)."""

    name: str
    items: int
    steps_per_window: int
    items_per_s: list[float]
    info: dict[str, Any]

    @property
    def median(self) -> float:
        return statistics.median(self.items_per_s)

    @property
    def ms_per_step(self) -> float:
        return 1e3 * self.items / self.median

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "items_per_step": self.items, "steps_per_window": self.steps_per_window,
                "windows_items_per_s": [round(v, 3) for v in self.items_per_s],
                "median_items_per_s": round(self.median, 3), "min_items_per_s": round(min(self.items_per_s), 3),
                "max_items_per_s": round(max(self.items_per_s), 3), "median_ms_per_step": round(self.ms_per_step, 3),
                **self.info}


def _steps_for(candidate: Candidate, seconds: float, warmup: int) -> int:
    """Warm up (``warmup`` steps, compiling whatever compiles), then size a window to about ``seconds``."""
    candidate.run(warmup)
    return max(1, round(seconds / max(candidate.run(1), 1e-6)))


def interleaved(candidates: Sequence[Candidate], windows: int, window_seconds: float, warmup: int = 2,
                log: Callable[[str], None] = print) -> dict[str, Measurement]:
    """Time ``windows`` rounds of one window per candidate, order rotating each round."""
    if windows < 1:
        raise ValueError(f"`windows` must be >= 1; received {windows}")
    steps = {}
    for candidate in candidates:
        log(f"  warm-up: {candidate.name}")
        steps[candidate.name] = _steps_for(candidate, window_seconds, warmup)
    rates: dict[str, list[float]] = {c.name: [] for c in candidates}
    for index in range(windows):
        order = list(candidates[index % len(candidates):]) + list(candidates[:index % len(candidates)])
        for candidate in order:
            count = steps[candidate.name]
            rates[candidate.name].append(count * candidate.items / candidate.run(count))
        log(f"  window {index + 1}/{windows}: " + ", ".join(f"{c.name} {rates[c.name][-1]:.1f}/s"
                                                          for c in candidates))
    return {c.name: Measurement(c.name, c.items, steps[c.name], rates[c.name], c.info) for c in candidates}


def best(results: dict[str, Measurement], framework: str, precision: str = "fp32") -> Measurement:
    """The fastest measurement whose ``info["framework"]`` is ``framework`` and whose ``info["precision"]``
    (default fp32) is ``precision``."""
    return max((m for m in results.values()
                if m.info.get("framework") == framework and m.info.get("precision", "fp32") == precision),
               key=lambda m: m.median)


def summarise(results: dict[str, Measurement], flops_per_item: int, ours: str, peers: tuple[str, ...],
              precision: str = "fp32") -> dict[str, Any]:
    """Rows (with achieved GFLOP/s) and, for each peer framework, ``ours``' best over the peer's best, both
    among the candidates of ``precision``."""
    winner = best(results, ours, precision)
    return {
        "flops_per_image": flops_per_item,
        "rows": [{**m.to_dict(), "gflops": round(m.median * flops_per_item / 1e9, 1)} for m in results.values()],
        "best": {ours: winner.name, **{p: best(results, p, precision).name for p in peers}},
        "ratios": {p: round(winner.median / best(results, p, precision).median, 3) for p in peers},
    }
