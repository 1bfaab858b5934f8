"""From a recommendation to the objects that move a workload, and from many recommendations to a plan.

- `subject`: one workload as the rollout sees it (its spec, its status, its approval);
- `karpenter`: the NodePool, EC2NodeClass and NodeOverlay that can launch the recommended instances;
- `serving`: the strategic-merge patch of the serving Deployment;
- `render`: all of them for one workload, with the notes a reviewer needs;
- `plan`: which moves to make first under a budget of engineer-weeks (an exact knapsack).

Pure: reads api models and the catalog, writes plain dicts; no I/O.
"""

from inferplace.rollout.plan import Move, Plan, plan_moves
from inferplace.rollout.render import Rendered, RenderError, RenderSettings, render
from inferplace.rollout.subject import Subject

__all__ = ["Move", "Plan", "RenderError", "RenderSettings", "Rendered", "Subject", "plan_moves", "render"]
