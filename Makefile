.PHONY: test crds kind-e2e bench

# What CI runs (README, "Set up on a fresh machine").
test:
	python3 -m pip install -e '.[test]' && python3 -m ruff check . && python3 -m mypy && lint-imports && python3 -m inferplace crd --check && python3 -m pytest

# Regenerate the CRD from the API models, and the chart's copy.
crds:
	python3 -m inferplace crd > crds/inferplace.io_inferenceworkloads.yaml
	cp crds/inferplace.io_inferenceworkloads.yaml charts/inferplace/crds/

# kind cluster + image + Prometheus + chart + examples + the e2e tests (needs docker, kind, helm).
kind-e2e:
	scripts/kind-e2e.sh

bench:
	python3 scripts/bench_engine.py
	python3 scripts/bench_recommend.py
