"""hadolint on the Dockerfile and checkov on the Dockerfile and on the rendered chart: no failed
checks, except those skipped in place with a reason. checkov lives in its own virtualenv (its
dependencies clash with ours): `.ci/run` installs it and sets INFERPLACE_CHECKOV to its binary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_chart import VALUES, _values, render

pytestmark = pytest.mark.chart

ROOT = Path(__file__).resolve().parents[2]


def _tool(env: str, name: str) -> str:
    path = os.environ.get(env) or shutil.which(name)
    if not path:
        if os.environ.get("INFERPLACE_REQUIRE_SCANNERS"):
            pytest.fail(f"INFERPLACE_REQUIRE_SCANNERS is set but {name} is not installed")
        pytest.skip(f"{name} is not installed (set {env})")
    return path


def test_hadolint_is_clean() -> None:
    proc = subprocess.run([_tool("INFERPLACE_HADOLINT", "hadolint"), str(ROOT / "Dockerfile")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _checkov(args: list[str]) -> dict[str, Any]:
    cmd = [_tool("INFERPLACE_CHECKOV", "checkov"), *args, "--output", "json", "--skip-download"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    reports = json.loads(proc.stdout) if proc.stdout.strip() else {}
    report: dict[str, Any] = reports[0] if isinstance(reports, list) else reports
    return report


def _failed(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['resource']}" for c in report.get("results", {}).get("failed_checks", [])]


def _skipped_have_reasons(report: dict[str, Any], expected: int) -> None:
    skipped = report["results"]["skipped_checks"]
    assert len(skipped) == expected, [c["check_id"] for c in skipped]
    for c in skipped:
        assert (c.get("check_result") or {}).get("suppress_comment", "").strip(), c["check_id"]


def test_checkov_dockerfile() -> None:
    report = _checkov(["-f", str(ROOT / "Dockerfile"), "--framework", "dockerfile"])
    assert report.get("summary", {}).get("passed", 0) > 0, report
    assert not _failed(report)
    _skipped_have_reasons(report, 1)  # CKV_DOCKER_2 (HEALTHCHECK): Kubernetes probes instead


def test_checkov_rendered_chart(tmp_path: Path) -> None:
    for values in VALUES:
        docs = render(_values(values))
        (tmp_path / f"{values.stem}.yaml").write_text(yaml.safe_dump_all(docs))
    report = _checkov(["-d", str(tmp_path), "--framework", "kubernetes"])
    assert report.get("summary", {}).get("passed", 0) > 0, report
    assert not _failed(report)
    _skipped_have_reasons(report, 4 * len(VALUES))  # the four annotated on the Deployment, per values file
