"""Operator settings from flags and INFERPLACE_* variables, and the Prometheus auth they build."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import requests

from inferplace.controller import config
from inferplace.metrics.auth import BearerTokenFile, SigV4, basic_auth


def _parse(argv: list[str], env: dict[str, str] | None = None) -> config.OperatorConfig:
    p = argparse.ArgumentParser()
    config.add_arguments(p, env or {})
    return config.from_args(p.parse_args(argv), env or {})


def test_defaults_and_environment() -> None:
    c = _parse([], {"INFERPLACE_NAMESPACES": "a, b", "INFERPLACE_INTERVAL": "2m",
                    "INFERPLACE_PROMETHEUS_URL": "http://prom:9090"})
    assert c.namespaces == ("a", "b") and not c.all_namespaces
    assert c.interval_s == 120 and c.window == "1h" and c.prometheus_timeout_s == 10
    assert c.prometheus_url == "http://prom:9090" and c.metrics_host_port == ("0.0.0.0", 8081)


def test_namespace_patterns_and_urls_that_kopf_and_requests_take_are_accepted() -> None:
    c = _parse(["-n", "team-*", "-n", "!kube-*", "-n", "a1", "-n", "myapp-*,!*-pr-*,*-pr-123",
                "--prometheus-url", "https://[::1]:9090/prom", "--liveness", "http://127.0.0.1:8080/healthz"], {})
    assert c.namespaces == ("team-*", "!kube-*", "a1", "myapp-*,!*-pr-*,*-pr-123")
    assert c.prometheus_url == "https://[::1]:9090/prom"


def test_alternatives_written_into_each_status() -> None:
    assert _parse(["-A"]).alternatives == 5  # as many as `inferplace recommend` shows by default
    assert _parse(["-A"], {"INFERPLACE_ALTERNATIVES": "0"}).alternatives == 0
    assert _parse(["-A", "--alternatives", "12"], {"INFERPLACE_ALTERNATIVES": "2"}).alternatives == 12


def test_flags_win_over_environment() -> None:
    c = _parse(["-n", "x", "--interval", "30s"], {"INFERPLACE_NAMESPACES": "a", "INFERPLACE_INTERVAL": "2m"})
    assert c.namespaces == ("x",) and c.interval_s == 30


@pytest.mark.parametrize(("argv", "env", "message"), [
    ([], {}, "--all-namespaces"),
    (["-A", "--interval", "5"], {}, "--interval / INFERPLACE_INTERVAL: '5' is not a duration"),
    (["-A"], {"INFERPLACE_JITTER": "0.9"}, "--jitter / INFERPLACE_JITTER: 0.9 is out of range"),
    (["-A", "--prometheus-url", "prom:9090"], {}, "not an http(s) URL"),
    (["-A", "--basic-auth-username", "u"], {}, "needs --basic-auth-password-file"),
    (["-A", "--bearer-token-file", "/nonexistent/token"], {}, "no such file"),
    (["-A", "--metrics-address", "8081"], {}, "HOST:PORT"),
    (["-n", "a"], {"INFERPLACE_ALL_NAMESPACES": "true"}, "exclude each other"),
    (["-n", ""], {}, "'' is not a namespace"),
    (["-n", "Team_A"], {}, "'Team_A' is not a namespace"),
    (["-n", "a,,b"], {}, "'a,,b' is not a namespace"),
    ([], {"INFERPLACE_NAMESPACES": "a,-b"}, "'-b' is not a namespace"),
    (["-A", "--prometheus-url", "http://[::1"], {}, "is not a URL"),
    (["-A", "--prometheus-url", "http://prom:99999"], {}, "'http://prom:99999' is not a URL"),
    (["-A", "--prometheus-url", "http://user:pw@prom:9090"], {}, "carries credentials (user:password@)"),
    (["-A", "--prometheus-url", "http://prom:9090/?x=1"], {}, "has a query or fragment"),
    (["-A", "--allowed-prometheus-url", "http://a@b"], {}, "--allowed-prometheus-url / "
     "INFERPLACE_ALLOWED_PROMETHEUS_URLS: 'http://.*@b' carries credentials"),
    (["-A", "--max-answer-size", "1Gi"], {}, "allowed: 64Ki to 256Mi"),
    (["-A", "--prometheus-url", "http:///api"], {}, "not an http(s) URL"),
    (["-A", "--liveness", "healthz"], {}, "--liveness / INFERPLACE_LIVENESS: 'healthz' is not an http(s) URL"),
    (["-A", "--liveness", "http://0.0.0.0/healthz"], {}, "needs a port"),
    (["-A", "--alternatives", "33"], {}, "--alternatives / INFERPLACE_ALTERNATIVES: 33 is out of range; "
     "allowed: 0 to 32"),
    (["-A"], {"INFERPLACE_ALTERNATIVES": "2.5"}, "--alternatives / INFERPLACE_ALTERNATIVES: '2.5' is not a whole "
     "number; allowed: 0 to 32"),
    (["-A", "--alternatives", "few"], {}, "'few' is not a number; allowed: 0 to 32"),
    (["-A", "--workers", "1.5"], {}, "--workers / INFERPLACE_WORKERS: '1.5' is not a whole number; allowed: 1 to 64"),
])
def test_bad_settings_name_the_flag_and_variable(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _parse(argv, env)


def test_bearer_token_is_reread_on_every_request(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("one\n")
    auth = BearerTokenFile(str(token))
    req = requests.Request("GET", "http://127.0.0.1:9/api/v1/query").prepare()
    assert auth(req).headers["Authorization"] == "Bearer one"
    token.write_text("two")  # projected tokens rotate
    assert auth(req).headers["Authorization"] == "Bearer two"


def test_basic_auth_reads_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    auth = basic_auth("reader", str(secret))
    assert (auth.username, auth.password) == ("reader", "s3cret")


def test_sigv4_signs_for_amazon_managed_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/query?query=up"
    req = SigV4("us-east-1")(requests.Request("GET", url).prepare())
    auth = req.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") and "/us-east-1/aps/aws4_request" in auth
    assert "X-Amz-Date" in req.headers


@pytest.mark.parametrize("kubeconfig", ["missing", "not-yaml"])
def test_no_cluster_to_watch_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], kubeconfig: str) -> None:
    from inferplace.cli.main import main  # noqa: PLC0415

    path = tmp_path / "kubeconfig"
    if kubeconfig == "not-yaml":
        path.write_text("clusters: [\n")
    for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):  # not in a pod
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert main(["operator", "-A", "--metrics-address", "off", "--liveness", "off"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("inferplace operator: error: no cluster to watch") and err.count("\n") == 1, err
    assert "Traceback" not in err
