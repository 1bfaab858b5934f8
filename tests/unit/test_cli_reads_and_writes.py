"""What the CLI reads cannot aim, exhaust or mislead it, and what it writes stays where it was told:
`render --out` never follows a symlink out of DIR, a malformed Deployment is exit 2 with its field,
memory follows one workload's answer and not the number of workloads, characters a terminal would
act on are escaped, a rate dated in the future is refused, a bad `--timeout` is a usage error."""

from __future__ import annotations

import gc
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inferplace.cli.recommend import CHUNK

from ..support.cli import run_cli, write_yaml
from ..support.manifests import workload_doc

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/01-steady-chat-llama-3.1-8b/workload.yaml"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("link", ["dir", "file", "parent"])
def test_render_out_never_follows_a_symlink_out_of_the_directory(tmp_path: Path, link: str) -> None:
    out, outside = tmp_path / "gitops", tmp_path / "elsewhere"
    out.mkdir()
    outside.mkdir()
    (outside / "karpenter.yaml").write_text("precious\n")
    if link == "dir":  # a committed link where render writes a workload's directory
        (out / "chat").mkdir()
        (out / "chat" / "support-chat").symlink_to(outside)
        named = out / "chat" / "support-chat"
    elif link == "file":  # a committed link in place of one of the files
        (out / "chat" / "support-chat").mkdir(parents=True)
        (out / "chat" / "support-chat" / "karpenter.yaml").symlink_to(outside / "karpenter.yaml")
        named = out / "chat" / "support-chat" / "karpenter.yaml"
    else:  # the namespace directory itself
        (out / "chat").symlink_to(outside)
        named = out / "chat"
    r = run_cli("render", "-f", str(EXAMPLE), "--out", str(out), "--as-of", "2026-12-01")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{named} is a symbolic link" in r.stderr, r.stderr
    assert (outside / "karpenter.yaml").read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["karpenter.yaml"]


def test_render_out_writes_real_files_as_before(tmp_path: Path) -> None:
    r = run_cli("render", "-f", str(EXAMPLE), "--out", str(tmp_path / "out"), "--as-of", "2026-12-01")
    assert r.returncode == 0, r.stderr
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.yaml"))
    assert files == ["chat/support-chat/deployment-patch.yaml", "chat/support-chat/karpenter.yaml",
                     "ec2nodeclass-inferplace-nvidia.yaml"]


@pytest.mark.parametrize(("deployment", "says"), [
    ({"spec": [1]}, "spec: must be a mapping, got list"),
    ({"spec": {"template": "x"}}, "spec.template: must be a mapping, got str"),
    ({"metadata": 5}, "metadata: must be a mapping, got int"),
    ({"spec": {"template": {"spec": {"containers": "vllm"}}}}, "spec.template.spec.containers: must be a list"),
    ({"spec": {"template": {"spec": {"containers": [{"name": "vllm", "args": "--x"}]}}}},
     "spec.template.spec.containers[0].args: must be a list of strings"),
])
def test_render_refuses_a_malformed_deployment_naming_the_field(tmp_path: Path, deployment: dict[str, object],
                                                               says: str) -> None:
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "vllm", "namespace": "chat"}}
    doc.update(deployment)
    deploy = write_yaml(tmp_path, doc, name="deploy.yaml")
    r = run_cli("render", "-f", str(EXAMPLE), "--deployments", str(deploy))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"--deployments {deploy}: document 1: {says}" in r.stderr, r.stderr


def _rates(tmp_path: Path, source: str, date: str = "2026-11-01") -> Path:
    return write_yaml(tmp_path, {"prices": [{"instanceType": "p5.48xlarge", "capacityType": "on-demand",
                                             "usdPerHour": "40", "source": source, "date": date}]},
                      name="rates.yaml")


@pytest.mark.parametrize("source", ["quote \x1b[2J\x1b]0;owned\x07", "contract \u202egnp.exe", "a\nb\rc"])
def test_a_rate_whose_source_would_act_on_a_terminal_is_refused(tmp_path: Path, source: str) -> None:
    r = run_cli("prices", "--prices", str(_rates(tmp_path, source)))
    assert r.returncode == 2 and "prices[0].source:" in r.stderr, r.stderr
    assert not RAW_CONTROL.search(r.stderr) and not RAW_CONTROL.search(r.stdout)


def test_error_messages_escape_what_a_terminal_would_act_on(tmp_path: Path) -> None:
    doc = workload_doc(model="evil\x1b[2J\x1b]0;title\x07model")
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)))
    assert r.returncode == 2 and "spec.model.name" in r.stderr
    assert not RAW_CONTROL.search(r.stderr), repr(r.stderr)


def test_a_rate_dated_in_the_future_is_refused(tmp_path: Path) -> None:
    rates = _rates(tmp_path, "negotiated quote", "9999-12-31")
    r = run_cli("recommend", "-f", str(EXAMPLE), "--prices", str(rates), "--as-of", "2026-12-01")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "prices[0].date: 9999-12-31 is after today (2026-12-01)" in r.stderr, r.stderr
    tomorrow = _rates(tmp_path, "negotiated quote", "2026-12-02")  # a writer ahead of UTC: allowed
    assert run_cli("prices", "--prices", str(tomorrow), "--as-of", "2026-12-01").returncode == 0


@pytest.mark.parametrize("value", ["-1", "nan", "1e308", "0", "inf", "x"])
def test_prices_refresh_refuses_a_timeout_it_cannot_keep(tmp_path: Path, value: str) -> None:
    r = run_cli("prices", "refresh", "--region", "us-east-1", "--out", str(tmp_path / "p.yaml"), "--timeout", value)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--timeout" in r.stderr and not (tmp_path / "p.yaml").exists()


def _peak_rss_mb(path: Path) -> float:
    """Peak RSS of `inferplace recommend -f PATH -o json` in a child process, in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run([sys.executable, "-m", "inferplace", "recommend", "-f", str(path), "-o", "json", "--as-of",
                        "2026-12-01"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
                       env=os.environ, check=False)
    assert r.returncode in (0, 3), r.stderr[-2000:]
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert after >= before
    return after / 1024


def test_memory_follows_one_workloads_answer_not_the_number_of_workloads(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from bench_recommend import workloads  # noqa: PLC0415 - the benchmark's varied workloads
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    # Both inputs span several chunks (`recommend.CHUNK` workloads are searched together), so the difference
    # is what each further workload keeps, not the size of a chunk: 100 against 800 also measured that a
    # second chunk's peak comes on top of the first's freed but fragmented memory (89 against 134 MB in
    # the development machine's environment, within the bound in CI's). Measured 2026-12-04: 256 workloads
    # 122 MB, 1,024 135 MB; with every workload in one chunk instead, 142 and 387 MB.
    n_small, n_large = 256, 1024
    assert n_small >= 2 * CHUNK, CHUNK
    small, large = tmp_path / "small.yaml", tmp_path / "large.yaml"
    small.write_text(yaml.safe_dump_all(workloads(n_small)))
    large.write_text(yaml.safe_dump_all(workloads(n_large)))
    # ru_maxrss of children is the largest child so far: the smaller input first.
    a = _peak_rss_mb(small)
    b = _peak_rss_mb(large)
    print(f"peak RSS: {n_small} workloads {a:.0f} MB, {n_large} workloads {b:.0f} MB")
    # Was about 0.37 MB a workload (2.3 GB for 6,000): 280 MB more for 768 more.
    assert b - a < 40, (a, b)


def test_the_file_commands_collect_garbage_less_often_and_the_operator_keeps_pythons_pace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from inferplace.cli.main import COLLECTOR_THRESHOLDS, main  # noqa: PLC0415

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # Python's default
        for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):  # not in a pod: no cluster, exit 2
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
        assert main(["operator", "-A", "--metrics-address", "off", "--liveness", "off"]) == 2
        assert gc.get_threshold() == (700, 10, 10)
        assert main(["crd"]) == 0
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    finally:
        gc.set_threshold(*before)
    capsys.readouterr()
