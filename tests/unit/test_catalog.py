"""Catalog validation: every figure sourced and dated, units sane, names resolve."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from inferplace.catalog import CatalogError, load_accelerators, load_catalog, load_models

REQUIRED_CHIPS = {"h100-sxm", "h200-sxm", "b200", "l40s", "l4", "a10g", "a100-40gb", "a100-80gb",
                  "inferentia2", "trainium1", "trainium2", "trainium3"}
REQUIRED_FAMILIES = {"g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "inf2", "trn1",
                     "trn2"}


def test_required_chips_and_instance_families_are_present() -> None:
    cat = load_catalog()
    assert set(cat.accelerators) >= REQUIRED_CHIPS
    assert {i.family for i in cat.instances.values()} >= REQUIRED_FAMILIES


def test_every_chip_figure_cites_a_dated_source() -> None:
    cat = load_catalog()
    raw = yaml.safe_load(Path(load_accelerators.__code__.co_filename).with_name("data")
                         .joinpath("accelerators.yaml").read_text())
    sources = raw["sources"]
    for acc in cat.accelerators.values():
        for name, fig in acc.figures().items():
            src = sources[fig.source]
            assert src["url"].startswith("http"), (acc.id, name)
            assert len(str(src["date"])) >= 4, (acc.id, name)


def test_chip_units_are_sane() -> None:
    cat = load_catalog()
    h100 = cat.accelerator("h100-sxm")
    assert h100.memory_bytes == pytest.approx(80e9)
    assert h100.bandwidth_bytes_s == pytest.approx(3.35e12)
    assert h100.link_bytes_s == pytest.approx(450e9)  # 900 GB/s counts both directions
    inf2 = cat.accelerator("inferentia2")
    assert inf2.memory_bytes == pytest.approx(32 * 2**30)
    for acc in cat.accelerators.values():
        assert 0.1e12 < acc.bandwidth_bytes_s < 20e12
        for dt, fig in acc.peak_tflops.items():
            assert 50e12 < fig.si < 20e15, (acc.id, dt)


def test_a_missing_figure_is_absent_and_says_why() -> None:
    a10g = load_catalog().accelerator("a10g")
    assert "int8" not in a10g.peak_tflops and "fp8" not in a10g.peak_tflops
    assert "ampere" in a10g.missing["fp8"].lower()


def test_a_figure_no_source_states_says_how_it_was_derived() -> None:
    cat = load_catalog()
    a10g = cat.accelerator("a10g").peak_tflops["bf16"]
    assert a10g.derived and "not published" in a10g.derived and "cannot check it" in a10g.derived
    rtx = cat.accelerator("rtx-pro-6000-server").peak_tflops["bf16"]
    assert "4,000 AI TOPS" in rtx.derived
    # A sourced figure is not marked derived.
    assert not cat.accelerator("b300").peak_tflops["bf16"].derived


def test_instance_types_carry_no_prices_and_unmodelled_chips_say_why() -> None:
    cat = load_catalog()
    for inst in cat.instances.values():
        assert not hasattr(inst, "prices"), inst.type  # prices live in inferplace.pricing
        if cat.accelerator_of(inst) is None:
            assert inst.missing and "no sourced" in inst.missing[0], inst.type
    assert cat.instance("p6-b200.48xlarge").chips == 8
    for newest in ("p6-b300.48xlarge", "g7.2xlarge", "g7e.2xlarge", "g5.12xlarge"):
        assert cat.accelerator_of(cat.instance(newest)) is not None, newest


def test_every_model_in_the_measurements_resolves(data_dir: Path) -> None:
    cat = load_catalog()
    with (data_dir / "calibration-scenarios.csv").open() as fh:
        names = {row["model"] for row in csv.DictReader(fh)}
    for name in names:
        assert cat.model(name).layers > 0


def test_required_model_families_are_present() -> None:
    ids = set(load_catalog().models)
    for needle in ("llama-2-70b", "llama-3.2-1b", "llama-3.3-70b", "mistral-7b", "mixtral-8x22b",
                   "qwen2.5-72b", "qwen3-235b-a22b", "deepseek-v3", "deepseek-r1", "gpt-oss-120b",
                   "gemma-2-27b", "gemma-3-27b", "codellama-34b"):
        assert any(needle in i for i in ids), needle


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(CatalogError, match="did you mean"):
        load_catalog().model("meta-llama/Llama-3.1-8B-Instrukt")


def _chip_file(tmp_path: Path, source: str = "src", **figures: dict[str, object]) -> Path:
    """An accelerators file with one H100-like chip; `figures` replace its memory, bandwidth, ..."""
    chip: dict[str, object] = {
        "id": "x", "name": "X", "vendor": "nvidia", "generation": "g",
        "peak_tflops": {"bf16": {"value": 989, "unit": "TFLOPS", "source": source}},
        "memory": {"value": 80, "unit": "GB", "source": source},
        "memory_bandwidth": {"value": 3.35, "unit": "TB/s", "source": source},
        "interconnect": {"value": 900, "unit": "GB/s", "source": source, "bidirectional": True},
        "weight_dtypes": ["bf16"], "kv_dtypes": ["bf16"]}
    chip.update(figures)
    path = tmp_path / "acc.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "sources": {"src": {"url": "https://x.example/d",
                                                                             "date": "2026-01-01"}},
                                    "accelerators": [chip]}))
    return path


def test_a_figure_without_a_known_source_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="unknown source"):
        load_accelerators(_chip_file(tmp_path, source="nope"))


def test_plausible_figures_load(tmp_path: Path) -> None:
    assert load_accelerators(_chip_file(tmp_path))["x"].memory_bytes == pytest.approx(80e9)


@pytest.mark.parametrize(("name", "figure"), [
    ("memory", {"value": 80, "unit": "TFLOPS", "source": "src"}),  # 80e12 bytes: TB where GB was meant
    ("memory", {"value": 80, "unit": "GB", "source": "src"} | {"value": 0.08}),  # 80 MB
    ("memory_bandwidth", {"value": 3350, "unit": "TB/s", "source": "src"}),  # GB/s figure in TB/s
    ("memory_bandwidth", {"value": 0.05, "unit": "TB/s", "source": "src"}),
    ("interconnect", {"value": 900, "unit": "TB/s", "source": "src"}),
    ("interconnect", {"value": 0.5, "unit": "GB/s", "source": "src"}),
    ("peak_tflops", {"bf16": {"value": 989000, "unit": "TFLOPS", "source": "src"}}),  # GFLOPS read as TFLOPS
    ("peak_tflops", {"bf16": {"value": 0.989, "unit": "TFLOPS", "source": "src"}}),
])
def test_a_figure_off_by_a_unit_is_implausible_and_fails_at_load(tmp_path: Path, name: str, figure: object) -> None:
    with pytest.raises(CatalogError, match="implausible"):
        load_accelerators(_chip_file(tmp_path, **{name: figure}))


def test_inconsistent_attention_heads_fail_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text(yaml.safe_dump({"schema_version": 1, "models": [{
        "id": "x", "family": "llama", "layers": 2, "hidden": 128, "heads": 3, "kv_heads": 2,
        "head_dim": 64, "intermediate": 256, "vocab": 1000, "max_context": 2048,
        "attention": "gqa", "source": {"url": "https://x.example/c", "date": "2024"}}]}))
    with pytest.raises(CatalogError, match="multiple of kv_heads"):
        load_models(bad)
