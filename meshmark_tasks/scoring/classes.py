"""Weights, class scores, the MeshMark itself and the record of which classes were scored."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from meshmark_tasks.profile import MUE_NAMES
from meshmark_tasks.scoring.errors import ScoringInputError
from meshmark_tasks.scoring.numeric import FloatArray, clip01, nan_mean_rows

# Class -> its MUEs, in the order the classes are listed in `scored_classes`.
CLASS_MUES: dict[str, tuple[str, ...]] = {
    "compute": ("mue_cpu", "mue_cpu_overhead"),
    "memory": ("mue_mem", "mue_mem_overhead"),
    "network": ("mue_latency_slo", "mue_latency_overhead"),
    "delivery": ("mue_throughput", "mue_success"),
}
CLASS_NAMES: tuple[str, ...] = tuple(CLASS_MUES)

WEIGHT_LIMIT = 0.5


def validate_weights(weights: Mapping[str, object] | None, source: str = "weights") -> dict[str, float]:
    """Check a weights mapping (MUE name -> w in [-0.5, 0.5]); the error names the key at fault."""
    if weights is None:
        return {}
    if not isinstance(weights, Mapping):
        raise ScoringInputError(
            f"{source}: expected a mapping of MUE name to weight, got {type(weights).__name__}"
        )
    checked: dict[str, float] = {}
    for name, weight in weights.items():
        if name not in MUE_NAMES:
            raise ScoringInputError(f"{source}: {name}: unknown MUE; expected one of {', '.join(MUE_NAMES)}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise ScoringInputError(f"{source}: {name}: expected a number, got {weight!r}")
        if not -WEIGHT_LIMIT <= weight <= WEIGHT_LIMIT:
            raise ScoringInputError(f"{source}: {name}: weight {weight} is outside [-0.5, 0.5]")
        checked[name] = float(weight)
    return checked


def class_scores(mues: Mapping[str, FloatArray], weights: Mapping[str, float]) -> dict[str, FloatArray]:
    """class_c = clip01(mean over the class's non-null MUEs of MUE_i × (1 + w_i)); NaN if none."""
    scores: dict[str, FloatArray] = {}
    for class_name, members in CLASS_MUES.items():
        terms = [mues[m] * (1.0 + weights.get(m, 0.0)) if m in weights else mues[m] for m in members]
        scores[class_name] = clip01(nan_mean_rows(terms))
    return scores


def meshmark(classes: Mapping[str, FloatArray]) -> FloatArray:
    """100 × mean over the scored (non-null) classes; NaN for a cell with no class at all."""
    return 100.0 * nan_mean_rows([classes[name] for name in CLASS_NAMES])


# Label of every subset of classes, indexed by a bitmask with bit i set when class i was scored.
_LABELS: tuple[str, ...] = tuple(
    ",".join(name for bit, name in enumerate(CLASS_NAMES) if mask & (1 << bit))
    for mask in range(1 << len(CLASS_NAMES))
)


def scored_class_masks(classes: Mapping[str, FloatArray]) -> npt.NDArray[np.uint8]:
    """Per row, the bitmask of scored classes (an index into scored_class_labels())."""
    mask = np.zeros(len(classes[CLASS_NAMES[0]]), dtype=np.uint8)
    for bit, name in enumerate(CLASS_NAMES):
        mask |= np.left_shift((~np.isnan(classes[name])).view(np.uint8), bit)
    return mask


def scored_class_labels() -> tuple[str, ...]:
    """ "compute,memory,network,delivery" and every subset of it, in that order, by bitmask."""
    return _LABELS
