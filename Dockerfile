# syntax=docker/dockerfile:1
# inferplace operator image: build a wheel, install it into a slim Python without compilers or test
# dependencies, run as a non-root numeric user.

FROM python:3.12-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2.post1
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m build --wheel --outdir /dist

FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /dist /dist
# The operator extra (kopf, kubernetes, the Prometheus clients) runs the controller; the aws extra
# (botocore) signs queries to Amazon Managed Prometheus and reads AWS prices. The wheel is the exact
# version just built; its dependencies follow pyproject.toml's ranges (no lock file yet).
# hadolint ignore=DL3013
RUN wheel="$(find /dist -name 'inferplace-*.whl')" \
    && pip install --no-cache-dir "${wheel}[operator,aws]" \
    && rm -rf /dist
# The chart runs with a read-only root filesystem; /tmp is an emptyDir.
USER 65532:65532
EXPOSE 8080 8081
# Kubernetes probes the liveness endpoint (the chart's livenessProbe); an image HEALTHCHECK is not used there.
# checkov:skip=CKV_DOCKER_2: liveness is a Kubernetes livenessProbe on /healthz, not a Docker HEALTHCHECK
ENTRYPOINT ["inferplace"]
CMD ["operator", "--all-namespaces"]
