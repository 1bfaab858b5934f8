"""Model architectures, by Hugging Face id (aliases resolve to the same shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferplace.catalog._files import CatalogError, read_yaml


class MoE(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experts: int = Field(ge=2, le=1024)
    top_k: int = Field(ge=1, le=64)
    expert_intermediate: int = Field(ge=64)
    shared_experts: int = Field(default=0, ge=0, le=16)
    dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")


class MLA(BaseModel):
    """Multi-head latent attention (DeepSeek): the KV cache holds one compressed latent per token."""

    model_config = ConfigDict(extra="forbid")
    q_lora_rank: int = Field(ge=0)
    kv_lora_rank: int = Field(ge=16)
    qk_nope_head_dim: int = Field(ge=16)
    qk_rope_head_dim: int = Field(ge=0)
    v_head_dim: int = Field(ge=16)


class SlidingWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(ge=16)
    local_layer_fraction: float = Field(gt=0, le=1)


class ModelSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8)
    date: str = Field(min_length=4)


class ModelArch(BaseModel):
    """The shape of a decoder-only transformer, enough to count bytes and FLOPs."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    family: str = Field(min_length=1, max_length=64)
    aliases: list[str] = []
    layers: int = Field(ge=1, le=512)
    hidden: int = Field(ge=64, le=65536)
    heads: int = Field(ge=1, le=1024)
    kv_heads: int = Field(ge=1, le=1024)
    head_dim: int = Field(ge=16, le=1024)
    intermediate: int = Field(ge=64, le=262144)
    vocab: int = Field(ge=256, le=1_000_000)
    max_context: int = Field(ge=128, le=16_777_216)  # Llama 4 Scout: 10,485,760
    tied_embeddings: bool = False
    attention: Literal["mha", "gqa", "mla"]
    moe: MoE | None = None
    mla: MLA | None = None
    sliding_window: SlidingWindow | None = None
    source: ModelSource | None = None
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ModelArch:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if (self.attention == "mla") != (self.mla is not None):
            raise ValueError("attention 'mla' and an `mla` block go together")
        if self.moe and self.moe.top_k > self.moe.experts:
            raise ValueError("moe.top_k cannot exceed moe.experts")
        return self


class _ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    models: list[ModelArch]


def load_models(path: Path | None = None) -> dict[str, ModelArch]:
    """Models keyed by lower-cased id and by every lower-cased alias."""
    raw = read_yaml("models.yaml", path)
    try:
        parsed = _ModelFile.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"models catalog: {exc}") from exc
    out: dict[str, ModelArch] = {}
    for arch in parsed.models:
        if arch.source is None:
            raise CatalogError(f"model {arch.id}: no source")
        for key in [arch.id, *arch.aliases]:
            if key.lower() in out:
                raise CatalogError(f"model id or alias {key!r} listed twice")
            out[key.lower()] = arch
    return out
