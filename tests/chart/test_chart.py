"""The Helm chart through the real Helm engine (helm-python-sdk): lint, render with the default and
every ci/*-values.yaml, validate each manifest against the Kubernetes schemas, and check what a
platform team relies on: PSS-restricted security, least-privilege RBAC, the probe, the CRD copy, and
that the environment the chart renders is one the operator accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from inferplace.api.crd import FILE_NAME, render_crd
from inferplace.controller import config

from ..support.chart import CHART, VALUES, render, values_of

pytestmark = pytest.mark.chart

KUBE_VERSION = "1.30.0"
NOT_IN_KUBERNETES_SCHEMAS = {"monitoring.coreos.com/v1"}  # prometheus-operator's CRDs


_values = values_of


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, [d["kind"] for d in docs]
    return found[0]


def _env(docs: list[dict[str, Any]]) -> dict[str, str]:
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_lint_is_clean(values: Path) -> None:
    report = helm.lint(CHART, _values(values), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_every_manifest_matches_the_kubernetes_schemas(values: Path) -> None:
    docs = render(_values(values))
    assert docs
    for doc in docs:
        if doc["apiVersion"] in NOT_IN_KUBERNETES_SCHEMAS:
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_pod_meets_the_restricted_pod_security_standard() -> None:
    pod = one(render({}), "Deployment")["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0 and psc["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"] and not sc.get("privileged")
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_two_replicas_behind_a_lease_rolled_with_a_liveness_probe_only() -> None:
    docs = render({})
    deploy = one(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2 and deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deploy["spec"]["template"]["spec"]
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": deploy["spec"]["selector"]}
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["INFERPLACE_LEADER_ELECT"] == "true" and env["INFERPLACE_SHARDS"] == "1"
    assert env["INFERPLACE_LEADER_ELECTION_NAMESPACE"] == "inferplace"
    (leases,) = [r for d in docs if d["kind"] == "Role" for r in d["rules"] if "leases" in r["resources"]]
    assert leases["apiGroups"] == ["coordination.k8s.io"]
    # the operator accepts what the chart sets
    cfg = config.from_env(env)
    assert cfg.leader_elect and cfg.leader_election_namespace == "inferplace" and cfg.leader_election_id == "inferplace"


def test_one_replica_without_leases_is_recreated() -> None:
    docs = render({"replicaCount": 1, "leaderElection": {"enabled": False}})
    deploy = one(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert not [r for r in _rules(docs) if "leases" in r["resources"]]
    env = {e["name"] for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "INFERPLACE_LEADER_ELECT" not in env


def test_shards_label_workloads_so_patch_is_granted() -> None:
    docs = render({"sharding": {"shards": 4}, "replicaCount": 4})
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["INFERPLACE_SHARDS"] == "4"
    assert {"apiGroups": ["inferplace.io"], "resources": ["inferenceworkloads"], "verbs": ["patch"]} in _rules(docs)
    assert config.from_env(env).shards == 4


def test_liveness_probe_and_ports() -> None:
    deploy = one(render({}), "Deployment")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    probe = container["livenessProbe"]
    assert probe["httpGet"] == {"path": "/healthz", "port": "healthz"} and probe["failureThreshold"] >= 3
    assert "readinessProbe" not in container
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["INFERPLACE_LIVENESS"].endswith(f":{ports['healthz']}/healthz")
    assert env["INFERPLACE_METRICS_ADDRESS"].endswith(f":{ports['metrics']}")


def _rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_rbac_is_least_privilege(values: Path) -> None:
    rules = _rules(render(_values(values)))
    assert rules
    for r in rules:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in r[key], r
        assert "secrets" not in r["resources"], r
        if r["resources"] == ["leases"]:  # the replicas' own Leases, in the release namespace
            assert r["apiGroups"] == ["coordination.k8s.io"], r
            continue
        assert set(r["verbs"]) <= {"get", "list", "watch", "patch", "create", "update"}, r
        if "delete" in r["verbs"]:
            pytest.fail(f"delete granted: {r}")
        if "update" in r["verbs"]:
            # the one object the operator replaces: its corrections ConfigMap, named, nothing else
            assert r["resources"] == ["configmaps"] and r["resourceNames"] == ["inferplace-corrections"], r
            assert set(r["verbs"]) == {"get", "update"}, r
    writes = {res for r in rules for res in r["resources"] if {"patch", "create", "update"} & set(r["verbs"])}
    assert writes - {"inferenceworkloads"} == {"inferenceworkloads/status", "events", "configmaps", "leases"}


def test_namespaced_mode_uses_roles_in_each_namespace() -> None:
    docs = render({"watch": {"allNamespaces": False, "namespaces": ["chat", "rag"]}})
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    watching = [d for d in docs if d["kind"] == "Role" and not d["metadata"]["name"].endswith(("-corrections",
                                                                                                "-leases"))]
    assert sorted(d["metadata"]["namespace"] for d in watching) == ["chat", "rag"]
    # and one in the release namespace, for the corrections ConfigMap only
    (store,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-corrections")]
    assert store["metadata"]["namespace"] == "inferplace"
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["INFERPLACE_NAMESPACES"] == "chat,rag" and "INFERPLACE_ALL_NAMESPACES" not in env
    assert env["INFERPLACE_CORRECTIONS_CONFIGMAP"] == "inferplace/inferplace-corrections"


def test_the_corrections_configmap_can_be_left_to_memory() -> None:
    docs = render({"verification": {"correctionsConfigMap": False}})
    assert not [d for d in docs if d["metadata"]["name"].endswith("-corrections")]
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "INFERPLACE_CORRECTIONS_CONFIGMAP" not in {e["name"] for e in container["env"]}
    for r in _rules(docs):
        assert "configmaps" not in r["resources"], r


def test_chart_crd_is_the_generated_one() -> None:
    (crd,) = helm.Chart.load(CHART).crds  # what Helm installs
    assert Path(crd["name"]).name == FILE_NAME
    assert crd["data"] == render_crd()


@pytest.mark.parametrize(("values", "message"), [
    ({"prometheus": {"auth": {"type": "oauth"}}}, "type"),
    ({"replicaCount": 2, "leaderElection": {"enabled": False}}, "replicaCount"),
    ({"sharding": {"shards": 0}}, "shards"),
    ({"evaluation": {"interval": "5"}}, "interval"),
    ({"evaluation": {"alternatives": 40}}, "alternatives"),
    ({"evaluation": {"statusTolerance": "2%"}}, "statusTolerance"),
    ({"bogus": True}, "bogus"),
    ({"pricing": {"region": "mars-1"}}, "region"),
    ({"pricing": {"live": {"refreshInterval": "soon"}}}, "refreshInterval"),
])
def test_bad_values_are_refused_naming_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        helm.Chart.load(CHART).render(values, name="inferplace", namespace="inferplace")


def test_required_values_fail_with_a_message() -> None:
    with pytest.raises(helm.HelmError, match=r"prometheus.auth.sigv4.region is required"):
        render({"prometheus": {"auth": {"type": "sigv4"}}})
    with pytest.raises(helm.HelmError, match=r"watch.namespaces must list"):
        render({"watch": {"allNamespaces": False}})


def test_monitoring_values() -> None:
    docs = render(_values(CHART / "ci" / "monitoring-values.yaml"))
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    svc = one(docs, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["spec"]["selector"].items()
    board = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
    dashboard = json.loads(board["data"]["inferplace.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("inferplace_projected_monthly_savings_usd", "inferplace_cost_per_million_output_tokens_usd"):
        assert metric in exprs


def test_irsa_annotation_and_price_configmap() -> None:
    docs = render(_values(CHART / "ci" / "namespaced-amp-values.yaml"))
    sa = one(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    prices = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-prices"))
    assert yaml.safe_load(prices["data"]["prices.yaml"])["prices"][0]["instanceType"] == "trn2.48xlarge"
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["INFERPLACE_REGION"], env["INFERPLACE_LIVE_PRICES"]) == ("us-east-2", "true")
    assert (env["INFERPLACE_PRICE_REFRESH_INTERVAL"], env["INFERPLACE_MAX_PRICE_AGE"]) == ("6h", "90d")


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_the_operator_accepts_the_environment_the_chart_renders(values: Path, tmp_path: Path) -> None:
    container = one(render(_values(values)), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for e in container["env"]:
        value = str(e.get("value", ""))
        if value.startswith(("/etc/inferplace/", "/var/run/inferplace/")):
            # Files the chart mounts (secrets, ConfigMaps): stand them up under tmp_path.
            local = tmp_path / value.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text("prices: []\n" if value.endswith("prices.yaml") else "x\n")
            value = str(local)
        env[e["name"]] = value
    assert container["args"] == ["operator"]
    cfg = config.from_env(env)
    assert cfg.all_namespaces or cfg.namespaces
    assert cfg.price_refresh_interval_s >= 3600 and cfg.max_price_age_days >= 1


def test_alternatives_and_status_tolerance_reach_the_operator() -> None:
    env = _env(render({}))
    assert (env["INFERPLACE_ALTERNATIVES"], env["INFERPLACE_STATUS_TOLERANCE"]) == ("5", "0.02")
    env = _env(render({"evaluation": {"alternatives": 0, "statusTolerance": "0.05"}}))
    cfg = config.from_env(env)
    assert (cfg.alternatives, cfg.status_tolerance) == (0, 0.05)


def test_kind_stack_matches_the_kubernetes_schemas() -> None:
    stack = CHART.parents[1] / "tests" / "kind" / "stack.yaml"
    docs = [d for d in yaml.safe_load_all(stack.read_text()) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "ConfigMap"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_the_prometheus_allow_list_and_limits_reach_the_operator() -> None:
    values = _values(CHART / "values.yaml")
    values["prometheus"] |= {"allowedUrls": ["http://prom-a.monitoring:9090", "https://thanos.example.com/team-a"],
                             "maxAnswerSize": "8Mi"}
    values["evaluation"] |= {"timeout": "20s", "unhealthyAfter": "10m"}
    container = one(render(values), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    cfg = config.from_env({k: str(v) for k, v in env.items() if v is not None and not str(v).startswith("/")})
    assert cfg.allowed_prometheus_urls.allows("https://thanos.example.com/team-a/api")
    assert not cfg.allowed_prometheus_urls.allows("https://thanos.example.com/team-b")
    assert (cfg.max_answer_bytes, cfg.evaluation_timeout_s, cfg.unhealthy_after_s) == (8 * 1024**2, 20.0, 600.0)


@pytest.mark.parametrize("url", ["http://u:p@prom:9090", "http://prom:9090/?x=1", "http://a,b"])
def test_the_chart_refuses_an_allowed_url_with_credentials_or_a_query(url: str) -> None:
    values = _values(CHART / "values.yaml")
    values["prometheus"]["allowedUrls"] = [url]
    with pytest.raises(Exception, match="allowedUrls"):
        render(values)


def test_declared_instance_types_reach_the_operator_through_a_configmap(tmp_path: Path) -> None:
    from inferplace.catalog import load_catalog  # noqa: PLC0415
    from inferplace.controller.handlers import _catalog  # noqa: PLC0415

    declared = (CHART.parents[1] / "examples" / "07-trainium3" / "instances.yaml").read_text()
    values = _values(CHART / "values.yaml")
    values["instances"] = {"inline": declared, "existingConfigMap": ""}
    docs = render(values)
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-instances"))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    path = Path(env["INFERPLACE_INSTANCES_FILE"])
    mount = next(m for m in container["volumeMounts"] if m["name"] == "instances")
    assert path.parent == Path(mount["mountPath"]) and mount["readOnly"]
    volume = next(v for v in pod["volumes"] if v["name"] == "instances")
    assert volume["configMap"]["name"] == cm["metadata"]["name"] and path.name in cm["data"]
    # What the operator reads from that file: the catalog plus the declared server.
    local = tmp_path / "instances.yaml"
    local.write_text(cm["data"][path.name])
    cfg = config.from_env({"INFERPLACE_INSTANCES_FILE": str(local), "INFERPLACE_NAMESPACES": "team-a"})
    cat = _catalog(cfg)
    assert cat.instance("trn3.48xlarge").chips == 16 and "trn3.48xlarge" not in load_catalog().instances
    # An existing ConfigMap is mounted instead of one the chart writes.
    values["instances"] = {"inline": "", "existingConfigMap": "team-instances"}
    docs = render(values)
    assert not any(d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-instances") for d in docs)
    vols = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in vols if v["name"] == "instances")["configMap"]["name"] == "team-instances"
