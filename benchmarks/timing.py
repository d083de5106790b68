"""Interleaved timing: every candidate measured in turn, window after window, whichever process it runs in.

Timing the candidates of a comparison one after the other lets a change in load (other processes, thermal or turbo
state) favour whichever ran in the quiet moment. Here every round times one window of each candidate, rotating the
order each round, so slow spells hit all alike; the reported figure is the median window, with the min and max.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass
class Candidate:
    """One contender: ``step()`` processes ``items`` images, or ``window(steps)`` returns the seconds it measured
    itself for ``steps`` steps (e.g. ``model.fit`` timed between batch ends, leaving per-call set-up out)."""

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


def interleaved(candidates: Sequence[Candidate], windows: int, window_seconds: float, warmup: int,
                log: Callable[[str], None], flops_per_item: float | None = None) -> list[dict[str, Any]]:
    """``windows`` rounds of one window per candidate (each sized to about ``window_seconds`` after ``warmup``
    untimed steps), order rotating; a row per candidate: its windows' items/s, their median, min and max (and the
    GFLOP/s of the median, given ``flops_per_item``)."""
    steps = {}
    for c in candidates:
        log(f"  warm-up: {c.name}")
        c.run(warmup)
        steps[c.name] = max(1, round(window_seconds / max(c.run(1), 1e-6)))
    rates: dict[str, list[float]] = {c.name: [] for c in candidates}
    for index in range(windows):
        for c in [*candidates[index % len(candidates):], *candidates[:index % len(candidates)]]:
            rates[c.name].append(steps[c.name] * c.items / c.run(steps[c.name]))
        log(f"  window {index + 1}/{windows}: " + ", ".join(f"{c.name} {rates[c.name][-1]:.1f}/s" for c in candidates))
    rows = []
    for c in candidates:
        median = statistics.median(rates[c.name])
        rows.append({"name": c.name, "items_per_step": c.items, "steps_per_window": steps[c.name],
                     "windows_items_per_s": [round(v, 3) for v in rates[c.name]],
                     "median_items_per_s": round(median, 3), "min_items_per_s": round(min(rates[c.name]), 3),
                     "max_items_per_s": round(max(rates[c.name]), 3),
                     "median_ms_per_step": round(1e3 * c.items / median, 3), **c.info}
                    | ({"gflops": round(median * flops_per_item / 1e9, 1)} if flops_per_item else {}))
    return rows


def ratio(rows: list[dict[str, Any]], ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """The fastest row matching ``ours`` over the fastest matching ``peer`` (rows whose entries equal theirs), with
    both rows' names."""
    a, b = ([r for r in rows if all(r.get(k) == v for k, v in match.items())] for match in (ours, peer))
    if not a or not b:
        raise ValueError(f"no measured row has {ours if not a else peer}")
    a, b = (max(chosen, key=lambda row: row["median_items_per_s"]) for chosen in (a, b))
    return {"ratio": round(a["median_items_per_s"] / b["median_items_per_s"], 3), "ours": a["name"], "peer": b["name"]}
