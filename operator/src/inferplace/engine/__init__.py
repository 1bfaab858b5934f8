"""The performance engine: pure numpy, no I/O, nothing of the project's catalog or API, no pydantic,
YAML, kopf, kubernetes or HTTP client (import-linter holds it to that).

`shapes` counts parameters, KV bytes and FLOPs from an architecture; `roofline` turns them into
step times on a replica's hardware; `serving` turns step times into throughput and latency
percentiles for each way of loading a server; `batch` stacks many scenarios into arrays and predicts
them at once; `slo` finds the goodput under latency objectives; `tco` sizes and costs a fleet.
"""

from inferplace.engine.batch import LOADS, Efficiency, ScenarioArrays, predict
from inferplace.engine.serving import BOUNDS, LIMITS, Bound, Limit, Results
from inferplace.engine.shapes import Architecture, ModelShape, shape_of

__all__ = ["BOUNDS", "LIMITS", "LOADS", "Architecture", "Bound", "Efficiency", "Limit", "ModelShape", "Results",
           "ScenarioArrays", "predict", "shape_of"]
