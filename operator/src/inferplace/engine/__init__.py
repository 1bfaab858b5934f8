"""The performance engine: pure numpy, no I/O, nothing from kopf, kubernetes or Prometheus.

`shapes` counts parameters, KV bytes and FLOPs from an architecture; `roofline` turns them into
step times on a chip; `serving` turns step times into throughput and latency percentiles for each
way of loading a server; `batch` stacks many scenarios into arrays and evaluates them at once.
"""

from inferplace.engine.batch import LOADS, Efficiency, ScenarioArrays, evaluate
from inferplace.engine.serving import Results
from inferplace.engine.shapes import ModelShape, shape_of

__all__ = ["LOADS", "Efficiency", "ModelShape", "Results", "ScenarioArrays", "evaluate", "shape_of"]
