"""The serving image a rendered Deployment runs on each platform, unless the team names its own.

Today's image is kept when the placement stays on its platform (the team's build, its pinned version).
Moving between platforms changes the image: a CUDA build does not run on Neuron, nor a Neuron DLC on GPUs.
Each default names where it was read; `render --image` (or the chart's render values) replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from inferplace.api.vocabulary import Platform


@dataclass(frozen=True)
class ServingImage:
    image: str
    source: str


# Neuron: AWS's vLLM Deep Learning Containers. The 2.33 DLC is for Trainium2/Trainium3 only; Inferentia2 and
# Trainium1 (NeuronCore-v2) keep the last vLLM DLC the Neuron docs document for them.
TRAINIUM_DLC = ServingImage(
    "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:0.29.0.1.2.0-neuronx-py314-sdk2.33.0-ubuntu26.04",
    "Neuron docs 2.33.0, setup/pytorch/dlc (date-modified 2026-10-16): vLLM inference DLC for Trn2 and Trn3")
DEFAULT_IMAGES: dict[str, ServingImage] = {
    "gpu": ServingImage("vllm/vllm-openai:v0.11.0",
                        "vLLM's official image on Docker Hub (docs.vllm.ai, Deploying with Docker), a pinned release"),
    "neuron-v3": TRAINIUM_DLC,
    "neuron-v4": TRAINIUM_DLC,
    "neuron-v2": ServingImage(
        "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:0.9.1-neuronx-py311-sdk2.26.1-ubuntu22.04",
        "Neuron docs 2.26.1 (vLLM on NxD Inference tutorial, Inf2/Trn1); later DLCs target Trn2/Trn3 only"),
}


def default_image(platform: Platform, generation: str) -> ServingImage:
    """The documented default for a chip generation (Neuron) or platform (GPU)."""
    return DEFAULT_IMAGES.get(generation) or (DEFAULT_IMAGES["gpu"] if platform == "gpu" else TRAINIUM_DLC)


def image_platform(image: str) -> Platform:
    """Which platform an image is built for, from its name: Neuron images say so, everything else is CUDA."""
    return "neuron" if "neuron" in image.lower() else "gpu"
