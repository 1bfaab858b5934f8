#!/usr/bin/env bash
# kind integration: a kind cluster, the operator image built and loaded, a Prometheus and a vLLM-like
# exporter, the Helm chart installed, every example applied and Ready with a recommendation; then the
# same end-to-end tests `pytest -m e2e` runs against any KUBECONFIG. Tears the cluster down unless
# KEEP=1. Needs docker, kind, kubectl, helm, and Debian's prometheus for the pytest part.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-inferplace-e2e}"
IMAGE="inferplace:dev"
export KUBECONFIG="${KUBECONFIG_OUT:-$(mktemp)}"

cleanup() {
    status=$?
    if [ "$status" -ne 0 ]; then
        kubectl get iw -A -o wide || true
        kubectl -n inferplace-system logs deploy/inferplace --tail=200 || true
    fi
    [ "${KEEP:-0}" = 1 ] || kind delete cluster --name "$CLUSTER"
    exit "$status"
}
trap cleanup EXIT

kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 120s
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

kubectl apply -f tests/kind/stack.yaml
kubectl -n inferplace-system rollout status deployment/vllm-exporter deployment/prometheus --timeout=180s
# The examples create their own namespaces (chat, search, agents); the rest run in default.

helm install inferplace charts/inferplace --namespace inferplace-system \
    --set image.repository=inferplace --set image.tag=dev --set image.pullPolicy=Never \
    --set prometheus.url=http://prometheus.inferplace-system:9090 \
    --set watch.allNamespaces=false --set 'watch.namespaces={chat,search,agents,default}' \
    --set evaluation.interval=1m --wait --timeout 180s

for f in examples/*/workload.yaml; do kubectl apply -f "$f"; done   # not the examples' --instances/--prices files
kubectl wait --for=condition=Ready inferenceworkloads --all --all-namespaces --timeout=300s
kubectl get iw -A -o wide
kubectl get iw -A -o json | python3 -c '
import json, sys
bad = [i["metadata"]["name"] for i in json.load(sys.stdin)["items"] if not i.get("status", {}).get("recommendation")]
sys.exit(f"no recommendation: {bad}" if bad else 0)'

python3 -m pytest -m e2e -v
