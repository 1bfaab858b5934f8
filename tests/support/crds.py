"""Waiting for a CustomResourceDefinition to be served, on any cluster a kubeconfig names."""

from __future__ import annotations

import subprocess
import time


def wait_established(kubeconfig: str, crd: str, timeout_s: float = 60.0) -> None:
    """Until the CRD serves. Polled: `kubectl wait` fails outright on a CRD read in the instant its
    status has no conditions yet ("<nil> is of the type <nil>, expected []interface{}")."""
    deadline = time.monotonic() + timeout_s
    query = '{.status.conditions[?(@.type=="Established")].status}'
    while True:
        got = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", f"crd/{crd}", "-o", f"jsonpath={query}"],
                             capture_output=True, text=True, timeout=60, check=False)
        if got.returncode == 0 and got.stdout.strip() == "True":
            return
        assert time.monotonic() < deadline, f"CRD {crd} not Established after {timeout_s:g} s: {got.stderr}"
        time.sleep(0.2)
