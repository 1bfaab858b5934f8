"""A real Kubernetes control plane on 127.0.0.1 for the e2e tests, as envtest runs one for Go
operators: etcd, kube-apiserver and kube-controller-manager (namespace deletion and garbage
collection need it), plus the matching kubectl.

The binaries are built once from the pinned Go modules in `tests/support/realk8s/` into a cache
(`~/.cache/inferplace/k8s/<version>/bin`, or $INFERPLACE_K8S_CACHE) and reused. Certificates, the
service-account key and an admin kubeconfig (a client certificate in `system:masters`) are made
for each run. Every process's log is kept in the run directory for failures.

    python -m tests.support.controlplane build            # build into the cache (once)
    python -m tests.support.controlplane up DIR           # start; prints `export KUBECONFIG=...`
    python -m tests.support.controlplane down DIR         # stop what `up` started
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VERSION = "v1.36.3"  # k8s.io/kubernetes in realk8s/go.mod; the staging modules are v0.36.3
ETCD_VERSION = "v3.6.8"
SOURCES = Path(__file__).resolve().parent / "realk8s"
# yaml-to-json: kubectl's own reading of YAML, the oracle of tests/e2e/test_yaml_reading_parity.py
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "yaml-to-json")
START_TIMEOUT_S = 90.0


def cache_dir() -> Path:
    root = os.environ.get("INFERPLACE_K8S_CACHE") or str(Path.home() / ".cache" / "inferplace" / "k8s")
    return Path(root) / VERSION / "bin"


def sources_digest() -> str:
    """What the binaries are built from (go.mod, go.sum, the mains): a cache built from other sources,
    such as an older yaml-to-json, is built again."""
    h = hashlib.sha256()
    for p in sorted(SOURCES.rglob("*")):
        if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
            h.update(p.relative_to(SOURCES).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp() -> Path:
    return cache_dir() / "SOURCES.sha256"


def built() -> bool:
    stamp = _stamp()
    return (all((cache_dir() / b).is_file() for b in BINARIES) and stamp.is_file()
            and stamp.read_text().strip() == sources_digest())


def build(log: Path | None = None) -> float:
    """Build the binaries into the cache; the seconds it took (0 when already built from these sources)."""
    if built():
        return 0.0
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is needed to build the control plane (https://go.dev/dl/)")
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    major, minor = VERSION.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    ldflags = " ".join([
        "-s", "-w",
        f"-X {pkg}.gitVersion={VERSION}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        f"-X {pkg}.gitCommit=inferplace-realk8s-{VERSION}",
    ])
    started = time.monotonic()
    env = os.environ | {"CGO_ENABLED": "0"}
    tmp = out.parent / "bin.partial"
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp) + "/", "./cmd/..."]
    with (log or Path(os.devnull)).open("w") as sink:
        proc = subprocess.run(cmd, cwd=SOURCES, env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log.read_text()[-3000:] if log else ""
        raise RuntimeError(f"go build of the control plane failed ({proc.returncode}):\n{tail}")
    for b in BINARIES:
        (tmp / b).replace(out / b)  # only whole binaries land in the cache
    tmp.rmdir()
    _stamp().write_text(sources_digest() + "\n")
    return time.monotonic() - started


# --- certificates -----------------------------------------------------------------------------------


def _write_key(path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, ca: bool, usage: list[x509.ObjectIdentifier],
          sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=7))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=not ca, content_commitment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True))
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def make_pki(pki: Path) -> None:
    """A CA; the API server's serving certificate (127.0.0.1, localhost, the service names); an admin
    client certificate in system:masters; the service-account signing key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("inferplace-e2e-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, True, [])
    _write_key(pki / "ca.key", ca_key)
    (pki / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
                                    x509.IPAddress(ipaddress.ip_address("10.0.0.1")), x509.DNSName("kubernetes"),
                                    x509.DNSName("kubernetes.default.svc")]
    for stem, subject, usage, alt in (
        ("apiserver", _name("kube-apiserver"), [ExtendedKeyUsageOID.SERVER_AUTH], sans),
        ("admin", _name("inferplace-e2e-admin", "system:masters"), [ExtendedKeyUsageOID.CLIENT_AUTH], None),
        # The aggregation layer's proxy client: without it every extension-apiserver-authentication reader
        # (the controller manager's auth delegation) logs a missing CA bundle.
        ("front-proxy-client", _name("front-proxy-client"), [ExtendedKeyUsageOID.CLIENT_AUTH], None),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(pki / f"{stem}.key", key)
        cert = _cert(subject, key, ca_name, ca_key, False, usage, alt)
        (pki / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki / "sa.key", sa)
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig(server: str, pki: Path) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "inferplace-e2e",
        "clusters": [{"name": "inferplace-e2e", "cluster": {"server": server,
                                                            "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(pki / "admin.crt"),
                                             "client-key": str(pki / "admin.key")}}],
        "contexts": [{"name": "inferplace-e2e", "context": {"cluster": "inferplace-e2e", "user": "admin"}}],
    }, indent=2)


# --- processes --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ControlPlane:
    """One control plane in `root`: start(), then stop(); components can be stopped and started again."""

    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    bin: Path = field(default_factory=cache_dir)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def _args(self, name: str) -> list[str]:
        p, pki, bin_ = self.ports, self.pki, self.bin
        etcd = f"http://127.0.0.1:{p['etcd']}"
        if name == "etcd":
            peer = f"http://127.0.0.1:{p['etcd-peer']}"
            return [str(bin_ / "etcd"), "--name=e2e", f"--data-dir={self.root / 'etcd'}",
                    f"--listen-client-urls={etcd}", f"--advertise-client-urls={etcd}",
                    f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                    f"--initial-cluster=e2e={peer}", "--unsafe-no-fsync", "--log-level=warn",
                    f"--listen-metrics-urls=http://127.0.0.1:{p['etcd-metrics']}"]
        if name == "kube-apiserver":
            return [str(bin_ / "kube-apiserver"), f"--etcd-servers={etcd}", "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1", f"--secure-port={p['apiserver']}",
                    f"--cert-dir={self.root / 'apiserver-certs'}",
                    f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
                    f"--client-ca-file={pki / 'ca.crt'}",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    f"--service-account-key-file={pki / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki / 'sa.key'}",
                    "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC",
                    "--endpoint-reconciler-type=none", "--enable-aggregator-routing=true",
                    f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                    "--requestheader-allowed-names=front-proxy-client",
                    "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
                    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                    f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                    f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                    "--enable-priority-and-fairness=false", "--v=1"]
        if name == "kube-controller-manager":
            return [str(bin_ / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig}",
                    f"--authentication-kubeconfig={self.kubeconfig}",
                    f"--authorization-kubeconfig={self.kubeconfig}",
                    "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={p['controller-manager']}",
                    f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                    "--use-service-account-credentials=false", "--controllers=*,-nodeipam,-nodelifecycle",
                    "--v=1"]
        raise KeyError(name)

    def _spawn(self, name: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(self._args(name), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        log.close()

    def _wait(self, name: str, ready: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; log:\n{self.log_tail(name)}")
            if self._probe(ready):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout:g} s; log:\n{self.log_tail(name)}")

    def _probe(self, what: str) -> bool:
        if what == "etcd":
            url = f"http://127.0.0.1:{self.ports['etcd']}/health"
            return _get(url, None) == 200
        if what == "apiserver":
            return _get(f"{self.server}/readyz", self.pki) == 200
        if what == "controller-manager":
            return _get(f"https://127.0.0.1:{self.ports['controller-manager']}/healthz", self.pki, verify=False) == 200
        raise KeyError(what)

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def start(self) -> ControlPlane:
        """Certificates, ports, the three processes in order, and the admin kubeconfig."""
        self.root.mkdir(parents=True, exist_ok=True)
        missing = [b for b in BINARIES if not (self.bin / b).is_file()]
        if missing:
            raise RuntimeError(f"control-plane binaries missing in {self.bin}: {', '.join(missing)} "
                               "(python -m tests.support.controlplane build)")
        make_pki(self.pki)
        self.ports = {n: _free_port() for n in ("etcd", "etcd-peer", "etcd-metrics", "apiserver",
                                                "controller-manager")}
        self.kubeconfig.write_text(kubeconfig(self.server, self.pki))
        self.kubeconfig.chmod(0o600)
        try:
            self.start_component("etcd")
            self.start_component("kube-apiserver")
            self.start_component("kube-controller-manager")
        except BaseException:
            self.stop()
            raise
        (self.root / "state.json").write_text(json.dumps(
            {"ports": self.ports, "pids": {n: p.pid for n, p in self.procs.items()}}))
        return self

    def start_component(self, name: str) -> None:
        self._spawn(name)
        self._wait(name, {"etcd": "etcd", "kube-apiserver": "apiserver",
                          "kube-controller-manager": "controller-manager"}[name])

    def stop_component(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            self.stop_component(name)

    def env(self) -> dict[str, str]:
        """KUBECONFIG, and PATH with the matching kubectl first."""
        return {"KUBECONFIG": str(self.kubeconfig), "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"}

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _get(url: str, pki: Path | None, verify: bool = True) -> int | None:
    """The HTTP status of GET `url` (None: no answer), with the admin certificate where `pki` is given.
    `verify` False: the controller manager serves a self-signed certificate of its own."""
    ctx = None
    if url.startswith("https"):
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt")) if pki is not None and verify else None
        if ctx is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if pki is not None:
            ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


# --- command line -----------------------------------------------------------------------------------


def _down(root: Path) -> None:
    state = root / "state.json"
    if not state.exists():
        return
    pids = json.loads(state.read_text())["pids"]
    for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        pid = pids.get(name)
        if pid is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(150):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
    state.unlink()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.support.controlplane", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build the binaries into the cache")
    for name in ("up", "down"):
        sp = sub.add_parser(name)
        sp.add_argument("dir", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "build":
        log = cache_dir().parent / "build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        took = build(log)
        print(f"control plane {VERSION} (etcd {ETCD_VERSION}) in {cache_dir()}: "
              + (f"built in {took:.0f} s" if took else "already built"), file=sys.stderr)
        return 0
    if args.cmd == "up":
        started = time.monotonic()
        cp = ControlPlane(args.dir.resolve()).start()
        # The processes outlive this command: `down` stops them by the pids in state.json.
        cp.procs.clear()
        print(f"control plane up at {cp.server} in {time.monotonic() - started:.1f} s; logs in {cp.logs}",
              file=sys.stderr)
        for k, v in cp.env().items():
            print(f"export {k}={v}")
        return 0
    _down(args.dir.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
