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
