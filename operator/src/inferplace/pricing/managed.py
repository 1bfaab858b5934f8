"""Per-token prices of managed model APIs (Amazon Bedrock and serverless providers), generated from
the project's sourced table by `scripts/generate_prices.py` like the instance price snapshot.

An API is offered for a workload only where the table has its exact Hugging Face model id, in the
workload's region (a regional API such as Bedrock) or as a global API (the serverless providers, which
state no region). A Bedrock row whose region is not stated ("default", "not stated") is evidence of a
price, not of an offer in a given region, so it is refused; superseded rows are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferplace.api.data_files import load_data_yaml
from inferplace.api.vocabulary import MANAGED_APIS, ManagedApi

FILE = "managed-apis.yaml"
GLOBAL = "global"
# Which pricing modes serve interactive traffic: batch is asynchronous, flex may queue.
INTERACTIVE_MODES = ("on-demand",)
PROVIDERS: dict[str, ManagedApi] = {"Amazon Bedrock": "bedrock", "Together AI": "together", "DeepInfra": "deepinfra",
                                    "Fireworks AI": "fireworks", "Groq": "groq"}
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


class ManagedPriceError(ValueError):
    pass


@dataclass(frozen=True)
class ApiPrice:
    provider: ManagedApi
    model_id: str  # Hugging Face id
    region: str  # an AWS region, or "global" for an API that states none
    mode: str  # on-demand, batch, ...
    usd_per_1m_input: float
    usd_per_1m_output: float
    as_of: date
    source: str
    note: str = ""

    def age_days(self, today: date) -> int:
        return max((today - self.as_of).days, 0)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    provider: ManagedApi
    model_id: str = Field(alias="modelId", min_length=3)
    region: str
    mode: str
    usd_per_1m_input: str = Field(alias="usdPer1MInput", pattern=r"^[0-9]+(\.[0-9]+)?$")
    usd_per_1m_output: str = Field(alias="usdPer1MOutput", pattern=r"^[0-9]+(\.[0-9]+)?$")
    as_of: date = Field(alias="asOf")
    source: str = Field(min_length=8)
    note: str = ""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_version: int = Field(alias="schemaVersion")
    generated_from: str = Field(alias="generatedFrom")
    prices: list[_Row]
    refused: list[dict[str, str]] = []


@dataclass(frozen=True)
class ApiPrices:
    by_key: Mapping[tuple[ManagedApi, str, str, str], ApiPrice]  # provider, model, region, mode

    @cached_property
    def _folded(self) -> dict[tuple[ManagedApi, str, str, str], ApiPrice]:
        # Model ids match whatever their case, as the catalog's do: one spelling never changes the answer.
        return {(p, m.lower(), r, mode): v for (p, m, r, mode), v in self.by_key.items()}

    def offer(self, provider: ManagedApi, model_id: str, region: str, mode: str = "on-demand") -> ApiPrice | None:
        """The price at which `provider` serves `model_id` (any case) to a workload in `region`, if it does."""
        key = model_id.strip().lower()
        return self._folded.get((provider, key, region, mode)) or self._folded.get((provider, key, GLOBAL, mode))

    def regions(self, provider: ManagedApi, model_id: str) -> list[str]:
        key = model_id.strip().lower()
        return sorted({k[2] for k in self._folded if k[0] == provider and k[1] == key})


def parse(raw: Any) -> ApiPrices:
    try:
        f = _File.model_validate(raw)
    except ValidationError as exc:
        raise ManagedPriceError(f"managed API prices: {exc}") from None
    by_key: dict[tuple[ManagedApi, str, str, str], ApiPrice] = {}
    for r in f.prices:
        key = (r.provider, r.model_id, r.region, r.mode)
        if key in by_key:
            raise ManagedPriceError(f"managed API prices: {' '.join(key)} listed twice")
        by_key[key] = ApiPrice(r.provider, r.model_id, r.region, r.mode, float(r.usd_per_1m_input),
                               float(r.usd_per_1m_output), r.as_of, r.source, r.note)
    return ApiPrices(by_key)


@lru_cache(maxsize=1)
def bundled() -> ApiPrices:
    text = resources.files("inferplace.pricing").joinpath("data", FILE).read_text("utf-8")
    return parse(load_data_yaml(text))


# ---- the generator's core ------------------------------------------------------------------------

def _regions(text: str, provider: ManagedApi) -> list[str] | str:
    """The regions a row is for, or why it cannot be placed in any."""
    text = text.strip()
    if text.startswith("n/a (global API)"):
        return [GLOBAL]
    found = [m.group(0) for m in _REGION.finditer(text)]
    if found and not text.startswith(("not stated", "default")) and "cross-region" not in text:
        return sorted(set(found))
    return f"region {text!r} is not a region {provider} can be placed in"


def generate(rows: Iterable[Mapping[str, str]], generated_from: str) -> dict[str, Any]:
    """The table of managed API prices for sourced rows (columns provider, model_id, region,
    usd_per_1m_input_tokens, usd_per_1m_output_tokens, pricing_mode, as_of_date, source, notes)."""
    newest: dict[tuple[str, str, str, str], tuple[Mapping[str, str], str]] = {}
    refused: list[dict[str, str]] = []
    for row in rows:
        label = " ".join((row.get(k) or "-").strip() for k in ("provider", "model_id", "region", "pricing_mode"))
        provider = PROVIDERS.get((row.get("provider") or "").strip())
        mode = (row.get("pricing_mode") or "").strip()
        why = None
        if provider is None:
            why = f"provider {row.get('provider')!r} is not one of {', '.join(MANAGED_APIS)}"
        elif not (row.get("model_id") or "").strip():
            why = "no Hugging Face model id (not an open-weight model inferplace can self-host)"
        elif not (row.get("source") or "").strip():
            why = "no source"
        elif "superseded" in mode or "SUPERSEDED" in (row.get("notes") or ""):
            why = "superseded by a later price"
        elif not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", (row.get("as_of_date") or "").strip()):
            why = "no as-of date"
        else:
            try:
                usd = (float(row["usd_per_1m_input_tokens"]), float(row["usd_per_1m_output_tokens"]))
                why = None if min(usd) >= 0 and max(usd) > 0 else "prices are not positive"
            except (KeyError, ValueError):
                why = "a price is not a number"
        regions: list[str] | str = [] if why else _regions(row.get("region") or "", provider or "bedrock")
        if isinstance(regions, str):
            why = regions
        if why is not None or provider is None or isinstance(regions, str):
            refused.append({"row": label, "reason": why or "unusable"})
            continue
        for region in regions:
            key = (provider, row["model_id"].strip(), region, mode)
            old = newest.get(key)
            if old is None or row["as_of_date"].strip() > old[0]["as_of_date"].strip():
                newest[key] = (row, region)
    prices = [{"provider": k[0], "modelId": k[1], "region": k[2], "mode": k[3],
               "usdPer1MInput": r["usd_per_1m_input_tokens"].strip(),
               "usdPer1MOutput": r["usd_per_1m_output_tokens"].strip(),
               "asOf": r["as_of_date"].strip(), "source": r["source"].strip(), "note": (r.get("notes") or "").strip()}
              for k, (r, _) in sorted(newest.items())]
    return {"schemaVersion": 1, "generatedFrom": generated_from, "prices": prices, "refused": refused}


def render(doc: Mapping[str, Any]) -> str:
    header = ("# GENERATED by scripts/generate_prices.py from the sourced managed-API price table; do not edit.\n"
              "# One figure per provider x Hugging Face model id x region x pricing mode: the newest sourced one.\n")
    return header + yaml.safe_dump(dict(doc), sort_keys=False, width=120, allow_unicode=True)
