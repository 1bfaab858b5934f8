"""`inferplace render`: GitOps-ready YAML for each workload's recommendation (or `--option N` of its
alternatives): a Karpenter NodePool (and a NodeOverlay for your own rates), the EC2NodeClass of its
accelerator platform, and a strategic-merge patch of the serving Deployment.

With --out DIR it writes DIR/ec2nodeclass-<name>.yaml (one per platform) and, per workload,
DIR/<namespace>/<name>/karpenter.yaml and deployment-patch.yaml (apply the patch with
`kubectl patch deployment NAME -n NS --type=strategic --patch-file deployment-patch.yaml`, or as a
kustomize patch). Without it, everything goes to stdout as one YAML stream.

Exit status: 0 every workload rendered; 3 some were not (no recommendation, a managed API, not
approved with --approved: the reason on stderr); 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from inferplace.api.errors import terminal_safe
from inferplace.api.resource import NAME_PATTERN
from inferplace.api.spec import K8S_NAME
from inferplace.api.writing import dump_all
from inferplace.catalog import CatalogError
from inferplace.cli.as_of import as_of
from inferplace.cli.inputs import InputError, expand, yaml_documents
from inferplace.cli.instances import catalog_for
from inferplace.cli.subjects import add_source_arguments, subjects
from inferplace.rollout import Rendered, RenderError, RenderSettings, render
from inferplace.rollout.karpenter import Cluster

EXIT_OK, EXIT_USAGE, EXIT_NOT_RENDERED = 0, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("render", help="Karpenter NodePool/EC2NodeClass/NodeOverlay and a Deployment patch per "
                       "recommendation", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    p.add_argument("--out", type=Path, metavar="DIR", help="write files under DIR instead of stdout")
    p.add_argument("--option", type=int, default=0, metavar="N",
                   help="render the Nth alternative instead of the recommendation (1 = the first alternative)")
    p.add_argument("--approved", action="store_true",
                   help="only workloads whose inferplace.io/approved-recommendation annotation is this option's id")
    p.add_argument("--cluster-name", default="${CLUSTER_NAME}",
                   help="tag value of karpenter.sh/discovery on your subnets and security groups")
    p.add_argument("--node-role", help="IAM role of the nodes (default KarpenterNodeRole-<cluster name>)")
    p.add_argument("--deployment", help="the serving Deployment (default: spec.serving.deployment)")
    p.add_argument("--container", help="its serving container (default: spec.serving.container)")
    p.add_argument("--deployments", type=Path, action="append", metavar="FILE|DIR",
                   help="today's Deployment manifests: their container args are kept, only the flags the placement "
                        "needs (tensor-parallel size, quantization, speculative decoding) are changed")
    p.add_argument("--image", help="the serving image the pods run (default: today's on the same platform, else the "
                                   "platform's documented default; see README)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InputError, CatalogError) as exc:
        print(f"inferplace render: {exc}", file=sys.stderr)
        return EXIT_USAGE


# What each name becomes: a Deployment (DNS subdomain) and container (DNS label) name, an EKS cluster name
# (the discovery tag), an IAM role name; `${VAR}` placeholders are kept for envsubst.
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_NAME_RULES = (
    ("deployment", "--deployment", re.compile(NAME_PATTERN), 253, "a Deployment name (lowercase letters, digits, "
     "'-' and '.')"),
    ("container", "--container", re.compile(K8S_NAME), 63, "a container name (lowercase letters, digits and '-')"),
    ("cluster_name", "--cluster-name", re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]*$"), 100,
     "an EKS cluster name (letters, digits, '-' and '_', starting with a letter or digit) or a ${VAR} placeholder"),
    ("node_role", "--node-role", re.compile(r"^[\w+=,.@-]+$", re.ASCII), 64,
     "an IAM role name (letters, digits and +=,.@_-) or a ${VAR} placeholder"),
    ("image", "--image", re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$"), 512,
     "a container image reference (registry/repository:tag or @sha256:digest, lowercase)"),
)


def _check_names(args: argparse.Namespace) -> None:
    for attr, flag, pattern, limit, what in _NAME_RULES:
        value = getattr(args, attr)
        if value is None:
            continue
        bare = _PLACEHOLDER.sub("x", value)
        if not value or not pattern.match(bare) or (bare == value and len(value) > limit):
            raise InputError(f"{flag} {value[:80]!r} is not {what}, at most {limit} characters")
    derived = f"KarpenterNodeRole-{args.cluster_name}"
    if args.node_role is None and not _PLACEHOLDER.search(derived) and len(derived) > 64:
        raise InputError(f"--node-role: the default {derived[:80]!r} is over IAM's 64 characters; give --node-role")


def _run(args: argparse.Namespace) -> int:
    if args.option < 0:
        raise InputError(f"--option must be >= 0, got {args.option}")
    _check_names(args)
    cat = catalog_for(args)
    found, problems = subjects(args, cat, as_of(args), alternatives=args.option)
    cluster = Cluster(args.cluster_name, args.node_role or f"KarpenterNodeRole-{args.cluster_name}")
    settings = RenderSettings(cluster, args.option, args.approved, args.deployment, args.container, args.image)
    deployments = _deployments(args.deployments or [])
    done: list[Rendered] = []
    skipped: list[str] = []
    for s in found:
        try:
            done.append(render(s, cat, settings, deployments))
        except RenderError as exc:
            skipped.append(str(exc))
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    for line in skipped:
        print(f"not rendered: {line}", file=sys.stderr)
    if args.out is not None:
        _write(args.out, done)
    else:
        sys.stdout.write(_stream(done))
    if problems:
        return EXIT_USAGE
    return EXIT_NOT_RENDERED if skipped else EXIT_OK


# Where today's Deployment must hold mappings and lists for its containers to be read.
_DEPLOYMENT_SHAPE = (("metadata",), ("spec",), ("spec", "template"), ("spec", "template", "metadata"),
                     ("spec", "template", "spec"))


def _deployments(paths: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in expand(paths):
        for i, doc in enumerate(yaml_documents(path), 1):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                _check_deployment(doc, f"--deployments {path}: document {i}")
                meta = doc.get("metadata") or {}
                out[(str(meta.get("namespace") or "default"), str(meta.get("name")))] = doc
    return out


def _check_deployment(doc: dict[str, Any], where: str) -> None:
    """InputError naming the field when a Deployment is not shaped as the API server would accept it."""
    for path in _DEPLOYMENT_SHAPE:
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, dict):
            raise InputError(f"{where}: {'.'.join(path)}: must be a mapping, got {type(node).__name__}")
    meta = doc.get("metadata") or {}
    for key in ("name", "namespace"):
        if meta.get(key) is not None and not isinstance(meta.get(key), str):
            raise InputError(f"{where}: metadata.{key}: must be a string")
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers")
    if containers is not None and not (isinstance(containers, list) and all(isinstance(c, dict) for c in containers)):
        raise InputError(f"{where}: spec.template.spec.containers: must be a list of containers (mappings)")
    for j, c in enumerate(containers or []):
        if c.get("args") is not None and not isinstance(c.get("args"), list):
            raise InputError(f"{where}: spec.template.spec.containers[{j}].args: must be a list of strings")


def _dump(docs: list[dict[str, Any]]) -> str:
    return dump_all(docs, default_flow_style=False, width=120)


def _header(r: Rendered) -> str:
    # The time of the answer rendered: the as-of for manifests, the operator's evaluation for --from-cluster.
    when = r.subject.status.last_evaluation_time or "an unknown time"
    lines = [f"inferplace render: {r.subject.key} -> {r.summary} (recommendation {r.option_id}, as of {when})"]
    lines += [f"note: {n}" for n in r.notes]
    # A comment line each: a newline in a note would start a line of YAML, a control character act on a terminal.
    return "".join(f"# {terminal_safe(line.replace(chr(10), ' ').replace(chr(13), ' '))}\n" for line in lines)


def _stream(done: list[Rendered]) -> str:
    parts: list[str] = []
    for nc in _node_classes(done):
        parts.append(_dump([nc]))
    for r in done:
        parts.append(_header(r) + _dump(r.objects))
        parts.append(f"# strategic-merge patch of Deployment {r.patch['metadata']['namespace']}/"
                     f"{r.patch['metadata']['name']} (kubectl patch --type=strategic)\n" + _dump([r.patch]))
    return "---\n".join(parts)


def _node_classes(done: list[Rendered]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in done:
        seen.setdefault(r.node_class["metadata"]["name"], r.node_class)
    return [seen[k] for k in sorted(seen)]


def _write(out: Path, done: list[Rendered]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for nc in _node_classes(done):
            _write_under(out, (f"ec2nodeclass-{nc['metadata']['name']}.yaml",), _dump([nc]))
        for r in done:
            where = (r.subject.namespace, r.subject.name)
            _write_under(out, (*where, "karpenter.yaml"), _header(r) + _dump(r.objects))
            _write_under(out, (*where, "deployment-patch.yaml"), _header(r) + _dump([r.patch]))
    except OSError as exc:
        raise InputError(f"--out {out}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    print(f"wrote {len(done)} workload(s) under {out}", file=sys.stderr)


def _write_under(out: Path, parts: tuple[str, ...], text: str) -> None:
    """Write `out/parts...` without following a symlink anywhere below `out`: a link committed into a
    GitOps checkout must not turn a render into a write elsewhere (refused, naming the path)."""
    here = out
    for i, part in enumerate(parts):
        here = here / part
        if here.is_symlink():
            raise InputError(f"--out {out}: {here} is a symbolic link; render writes only real files and "
                             "directories under --out (remove the link)")
        if i < len(parts) - 1:
            here.mkdir(exist_ok=True)
    fd = os.open(here, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
