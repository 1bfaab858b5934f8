"""The fleet's verification checks in a ConfigMap the operator owns (`--corrections-configmap NS/NAME`).

Every verified move adds one check (`feedback.corrections.Check`); every evaluation turns the checks into
corrections per scope. The ConfigMap keeps them across restarts and shares them between replicas: each
process reads it at start and again every minute (`fleet_checks.READ_EVERY_S`), and each new check is
merged into what the API server holds (read, merge, replace with the read's resourceVersion; a concurrent
writer's 409 is retried on a fresh read), so no replica's check overwrites another's. Alongside the checks
(`checks.json`, the source) it carries the corrections they give today (`corrections.json`), for people
reading it with kubectl.

Runs in the operator's worker threads; every request carries the API timeout.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from inferplace.api.clock import Clock, system_clock
from inferplace.feedback.corrections import Check, corrections, from_json, merged, to_json

log = logging.getLogger("inferplace.corrections")

CHECKS_KEY = "checks.json"
SUMMARY_KEY = "corrections.json"
ATTEMPTS = 4  # writes that lose a race to another replica are retried on a fresh read this many times


class StoreError(Exception):
    """The ConfigMap could not be read or written (the message says why, without a traceback)."""


@dataclass
class ConfigMapCorrections:
    api_client: Any  # kubernetes.client.ApiClient
    namespace: str
    name: str
    timeout_s: float
    clock: Clock = system_clock

    @property
    def _timeout(self) -> tuple[float, float]:
        return (min(self.timeout_s, 10.0), self.timeout_s)

    def _read(self) -> tuple[list[Check], Any]:
        """The stored checks and the ConfigMap they were read from (None: there is none yet)."""
        import kubernetes  # noqa: PLC0415

        api = kubernetes.client.CoreV1Api(self.api_client)
        try:
            cm = api.read_namespaced_config_map(self.name, self.namespace, _request_timeout=self._timeout)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return [], None
            raise StoreError(f"ConfigMap {self.namespace}/{self.name}: HTTP {exc.status} {exc.reason}") from None
        text = (cm.data or {}).get(CHECKS_KEY) or "[]"
        try:
            raw = json.loads(text)
        except ValueError:
            log.warning("ConfigMap %s/%s: %s is not JSON; starting from no checks", self.namespace, self.name,
                        CHECKS_KEY)
            raw = []
        return from_json(raw), cm

    def load(self) -> list[Check]:
        try:
            checks, _ = self._read()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"ConfigMap {self.namespace}/{self.name}: {type(exc).__name__}") from None
        return checks

    def _data(self, checks: list[Check]) -> dict[str, str]:
        summary = corrections(checks, self.clock()).by_scope
        return {CHECKS_KEY: json.dumps(to_json(checks), indent=1, sort_keys=True),
                SUMMARY_KEY: json.dumps({s: asdict(c) for s, c in sorted(summary.items())}, indent=1, sort_keys=True)}

    def add(self, check: Check) -> list[Check]:
        import kubernetes  # noqa: PLC0415

        api = kubernetes.client.CoreV1Api(self.api_client)
        for _ in range(ATTEMPTS):
            try:
                stored, cm = self._read()
                checks = merged(stored, check)
                if cm is None:
                    meta = kubernetes.client.V1ObjectMeta(name=self.name, namespace=self.namespace,
                                                          labels={"app.kubernetes.io/managed-by": "inferplace"})
                    body = kubernetes.client.V1ConfigMap(metadata=meta, data=self._data(checks))
                    api.create_namespaced_config_map(self.namespace, body, _request_timeout=self._timeout)
                else:
                    # The object as read (its labels and Helm's annotations kept), with its resourceVersion:
                    # a write that lost a race is refused (409), not applied over the other.
                    cm.data = {**(cm.data or {}), **self._data(checks)}
                    api.replace_namespaced_config_map(self.name, self.namespace, cm, _request_timeout=self._timeout)
                return checks
            except kubernetes.client.ApiException as exc:
                if exc.status == 409:  # another replica wrote meanwhile (or created it): read again
                    continue
                raise StoreError(f"ConfigMap {self.namespace}/{self.name}: HTTP {exc.status} {exc.reason}") from None
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"ConfigMap {self.namespace}/{self.name}: {type(exc).__name__}") from None
        raise StoreError(f"ConfigMap {self.namespace}/{self.name}: still conflicting after {ATTEMPTS} attempts")


__all__ = ["CHECKS_KEY", "SUMMARY_KEY", "ConfigMapCorrections", "StoreError"]
