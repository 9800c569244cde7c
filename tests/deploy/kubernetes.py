"""Renders deploy/kubernetes offline, validates it against the Kubernetes API schemas, and
checks what the manifests promise (one writer per tenant, its own volume, the secrets where
truce.toml reads them, probes on /healthz, a locked-down pod).

Usage: kubernetes.py DEPLOY_KUBERNETES_DIR OUT_DIR

Run by tests/deploy.rs in the SDK virtualenv (tests/compat/ensure_venv.sh installs
kubernetes-validate, whose schemas ship inside the package: no network). Each tenant's
rendered truce.toml is written to OUT_DIR/TENANT/truce.toml for the Rust side to run
`truce check --offline` on. Rendering uses `kubectl kustomize` where kubectl is installed,
and this file's small renderer (the kustomize features the manifests use, no more)
otherwise; where both exist their outputs must agree, so the fallback stays honest.
Exits non-zero with one line per problem.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import kubernetes_validate
import yaml

# The oldest Kubernetes these manifests are meant for, and the newest schema at hand.
VERSIONS = ["1.30.0", "1.37.0"]
# Cluster-scoped kinds the manifests use: `namespace:` leaves them alone.
CLUSTER_SCOPED = {"Namespace"}
GENERATED = re.compile(r"^(truce-config)-[a-z0-9]{10}$")

problems = []


def problem(text):
    problems.append(text)


# ---- the small renderer ------------------------------------------------------------------


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def short_hash(doc):
    body = json.dumps({"kind": doc["kind"], "name": doc["metadata"]["name"], "data": doc["data"]}, sort_keys=True)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return "".join(c if c.isalpha() or c in "2456789" else "k" for c in digest[:10])


def build(directory):
    """The documents of one kustomization, before generated names get their hash."""
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "namespace", "configMapGenerator", "images"}
    unknown = set(kust) - known
    if unknown:
        raise SystemExit(f"{directory}: the small renderer does not know {sorted(unknown)}")
    docs = []
    for resource in kust.get("resources", []):
        path = directory / resource
        docs += build(path) if path.is_dir() else load_docs(path)
    for gen in kust.get("configMapGenerator", []):
        data = {}
        for entry in gen["files"]:
            key, _, source = entry.rpartition("=")
            data[key or PurePosixPath(source).name] = (directory / source).read_text()
        behavior = gen.get("behavior", "create")
        existing = [d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == gen["name"]]
        if behavior == "replace":
            if len(existing) != 1:
                raise SystemExit(f"{directory}: nothing to replace for {gen['name']}")
            existing[0]["data"] = data
        else:
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    if "namespace" in kust:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kust["namespace"]
    for image in kust.get("images", []):
        for doc in docs:
            for container in pod_spec(doc).get("containers", []):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return docs


def render_small(directory):
    docs = build(directory)
    renamed = {}
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "truce-config":
            renamed[doc["metadata"]["name"]] = f"truce-config-{short_hash(doc)}"
            doc["metadata"]["name"] = renamed["truce-config"]
    for doc in docs:
        for volume in pod_spec(doc).get("volumes", []):
            config_map = volume.get("configMap")
            if config_map and config_map["name"] in renamed:
                config_map["name"] = renamed[config_map["name"]]
    return docs


def render_kubectl(directory):
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"kubectl kustomize {directory} failed: {out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def normalized(docs):
    """Documents keyed by kind and name, generated names without their hash."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, str):
            return GENERATED.sub(r"\1-HASH", value)
        return value

    return {(d["kind"], strip(d["metadata"]["name"])): strip(d) for d in docs}


def render(directory):
    small = render_small(directory)
    if shutil.which("kubectl") is None:
        print(f"{directory}: rendered by the small renderer (kubectl is not installed)")
        return small
    real = render_kubectl(directory)
    if normalized(real) != normalized(small):
        problem(f"{directory}: kubectl kustomize and the small renderer disagree; fix the renderer in {__file__}")
    return real


# ---- checks -------------------------------------------------------------------------------


def pod_spec(doc):
    return doc.get("spec", {}).get("template", {}).get("spec", {}) if doc.get("kind") == "StatefulSet" else {}


def validate(docs, where):
    for doc in docs:
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                problem(f"{where}: {doc['kind']}/{doc['metadata']['name']} is not valid Kubernetes {version}: {err.message} at {list(err.path)}")
            except kubernetes_validate.utils.SchemaNotFoundError as err:
                problem(f"{where}: no schema for {doc['kind']} in {version}: {err}")


def secret_files(config, prefix=()):
    """Every { file = ... } secret source in a config, with its key path."""
    for key, value in config.items():
        if isinstance(value, dict):
            if set(value) == {"file"}:
                yield ".".join(prefix + (key,)), value["file"]
            else:
                yield from secret_files(value, prefix + (key,))


def mount(container, volume_name):
    mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] == volume_name]
    return PurePosixPath(mounts[0]) if len(mounts) == 1 else None


def check_tenant(name, docs, secret_keys, out_dir):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    want = {"Namespace", "ConfigMap", "Service", "StatefulSet", "NetworkPolicy"}
    if set(by_kind) != want:
        problem(f"{name}: kinds {sorted(by_kind)}, expected {sorted(want)}")
    if "PodDisruptionBudget" in by_kind:
        problem(f"{name}: a PodDisruptionBudget over a single writer blocks node drains")
    (namespace,) = by_kind["Namespace"]
    ns = namespace["metadata"]["name"]
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED and doc["metadata"].get("namespace") != ns:
            problem(f"{name}: {doc['kind']}/{doc['metadata']['name']} is not in the tenant's namespace {ns}")
    if len(by_kind["StatefulSet"]) != 1:
        problem(f"{name}: one StatefulSet per tenant, found {len(by_kind['StatefulSet'])}")
        return ns
    (sts,) = by_kind["StatefulSet"]
    spec = sts["spec"]
    if spec.get("replicas") != 1:
        problem(f"{name}: the StatefulSet's replicas is {spec.get('replicas')!r}; it must be 1 (SQLite has one writer)")
    claims = spec.get("volumeClaimTemplates", [])
    if [c["spec"].get("accessModes") for c in claims] != [["ReadWriteOnce"]]:
        problem(f"{name}: the state volume must be one ReadWriteOnce claim, found {claims}")
    pod = pod_spec(sts)
    (container,) = pod["containers"]
    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    expectations = [
        (pod_security.get("runAsNonRoot") is True or security.get("runAsNonRoot") is True, "runAsNonRoot"),
        (pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault"),
        (security.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem"),
        (security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false"),
        (security.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL"),
        (pod.get("automountServiceAccountToken") is False, "no service account token"),
        (all(container.get("resources", {}).get(k, {}).get("memory") for k in ("requests", "limits")), "memory requests and limits"),
    ]
    for ok, what in expectations:
        if not ok:
            problem(f"{name}: the pod must have {what}")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for probe in ("livenessProbe", "startupProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != "/healthz" or get.get("port") != "metrics":
            problem(f"{name}: {probe} must GET /healthz on the metrics port, found {get}")
    annotations = sts["spec"]["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(ports.get("metrics")):
        problem(f"{name}: scrape annotations {annotations} do not name the metrics port {ports.get('metrics')}")
    (service,) = by_kind["Service"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    if not all(labels.get(k) == v for k, v in service["spec"]["selector"].items()):
        problem(f"{name}: the Service's selector does not select the pod")
    if [p.get("name") for p in service["spec"]["ports"]] != ["metrics"] or service["spec"]["ports"][0]["targetPort"] != "metrics":
        problem(f"{name}: the Service must expose the port named metrics")
    if sts["spec"]["serviceName"] != service["metadata"]["name"]:
        problem(f"{name}: the StatefulSet's serviceName is not its Service")

    volumes = {v["name"]: v for v in pod["volumes"]}
    (config_map,) = by_kind["ConfigMap"]
    if volumes.get("config", {}).get("configMap", {}).get("name") != config_map["metadata"]["name"]:
        problem(f"{name}: the config volume does not mount the generated ConfigMap")
    config_dir = mount(container, "config")
    args = container.get("args", [])
    config_path = PurePosixPath(args[args.index("--config") + 1]) if "--config" in args else None
    if config_dir is None or config_path is None or config_path.parent != config_dir or config_path.name not in config_map["data"]:
        problem(f"{name}: --config {config_path} is not the mounted ConfigMap's file")
        return ns
    text = config_map["data"][config_path.name]
    config = tomllib.loads(text)
    state = PurePosixPath(config["state"]["path"])
    claim_names = [c["metadata"]["name"] for c in claims]
    if not claim_names or state.parent != mount(container, claim_names[0]):
        problem(f"{name}: [state] path {state} is not on the claimed volume")
    credentials = volumes.get("credentials", {}).get("secret", {})
    credentials_dir = mount(container, "credentials")
    for key, path in secret_files(config):
        path = PurePosixPath(path)
        if path.parent != credentials_dir or path.name not in secret_keys:
            problem(f"{name}: {key} = {{ file = \"{path}\" }} is not a key of the {credentials.get('secretName')} Secret mounted at {credentials_dir}")
    listen = config.get("metrics", {}).get("listen", "")
    if not listen.endswith(f":{ports.get('metrics')}") or config["metrics"].get("allow_remote") is not True:
        problem(f"{name}: [metrics] listen {listen!r} must serve the container's metrics port to the pod's network")
    (out_dir / name).mkdir(parents=True, exist_ok=True)
    (out_dir / name / "truce.toml").write_text(text)
    return ns


def main():
    root, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    (secret,) = load_docs(root / "secret.example.yaml")
    validate([secret], "secret.example.yaml")
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    validate(render(root / "base"), "base")
    tenants = sorted(p.parent for p in (root / "overlays").glob("*/kustomization.yaml"))
    if len(tenants) < 2:
        problem("overlays/ should show at least two tenants")
    namespaces = set()
    for tenant in tenants:
        docs = render(tenant)
        validate(docs, tenant.name)
        namespaces.add(check_tenant(tenant.name, docs, secret_keys, out_dir))
        print(f"{tenant.name}: {len(docs)} resources rendered and checked")
    if len(namespaces) != len(tenants):
        problem(f"tenants share namespaces: {sorted(namespaces)}")
    for line in problems:
        print(f"FAIL {line}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
