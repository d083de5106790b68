"""The paper's claims checked on a study's runs: a comparison on the means
over seeds and on each seed (:func:`compare`), and "trains without diverging"
(:func:`trains_claim`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from keras_resnet.experiments.outputs import yes_no


@dataclasses.dataclass(frozen=True)
class Claim:
    """A statement of the paper checked on the runs: ``holds`` on the seed
    means, ``per_seed`` on each seed; ``left`` / ``right`` are the compared means."""

    text: str
    holds: bool
    per_seed: tuple[bool, ...]
    left: float
    right: float
    unit: str = " %"

    def line(self) -> str:
        """``- <text>: **yes|no** (<left> % vs <right> %; every seed: yes|no, k/n)``, the seeds' part only
        for several seeds."""
        seeds = (f"; every seed: {yes_no(all(self.per_seed))}, {sum(self.per_seed)}/{len(self.per_seed)}"
                 if len(self.per_seed) > 1 else "")
        return (f"- {self.text}: **{yes_no(self.holds)}** "
                f"({self.left:.{_digits(self.unit)}f}{self.unit} vs {self.right:.{_digits(self.unit)}f}{self.unit}"
                f"{seeds})")


def _digits(unit: str) -> int:
    return 1 if unit.strip() == "%" else 3


def compare(text: str, left: Sequence[float], right: Sequence[float], relation: Callable[[float, float], bool],
            unit: str = " %") -> Claim:
    """A :class:`Claim` that ``relation(left, right)`` holds, on the means and per seed."""
    per_seed = tuple(relation(a, b) for a, b in zip(left, right, strict=True))
    a, b = float(np.mean(left)), float(np.mean(right))
    return Claim(text, holds=relation(a, b), per_seed=per_seed, left=a, right=b, unit=unit)



def trains_claim(label: str, cross_entropy: Sequence[float] | None, classes: int) -> Claim:
    """``label`` trains without diverging: its per-step ``cross_entropy``
    (``None``: the loss became NaN) is lower over the last fifth of the steps
    than over the first fifth, and lower than a uniform guess's, ln ``classes``
    (a net whose huge initial loss falls only to chance has not trained)."""
    guess = math.log(classes)
    first, last = _mean_ends(cross_entropy) if cross_entropy is not None else (math.nan, math.nan)
    holds = last < min(first, guess)
    return Claim(f"{label} trains without diverging (finite loss; cross-entropy of the last fifth of the steps below "
                 f"the first fifth's and below ln {classes} = {guess:.3f}, a uniform guess's)", holds=holds,
                 per_seed=(holds,), left=first, right=last, unit="")



def _mean_ends(values: Sequence[float]) -> tuple[float, float]:
    """Mean of the first and of the last fifth of ``values`` (at least one value each)."""
    n = max(1, len(values) // 5)
    return float(np.mean(values[:n])), float(np.mean(values[-n:]))

