"""deploy/kubernetes: every kustomization rendered and every object validated against Kubernetes'
own OpenAPI schemas (kubernetes-validate, strict: an unknown field fails) for a pinned Kubernetes
version, and the manifests checked against what berth does: probes on /ping, a grace period above
--shutdown-timeout, the cache volume where XDG_CACHE_HOME points, an autoscaler metric that berth
exports and the Prometheus adapter publishes, the components overlay's --config file mounted.

CI has no kustomize, so `render` below applies the subset of kustomize the overlays use (resources,
images, strategic-merge patches, configMapGenerator without hash suffixes) and fails on anything
else; where `kubectl` is installed its `kubectl kustomize` output must be the same objects."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from berth_process import ROOT

KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.34.0"
KUSTOMIZATIONS = ["base", "overlays/one-model", "overlays/components", "prometheus-adapter"]
SUPPORTED = {"apiVersion", "kind", "resources", "images", "patches", "configMapGenerator",
             "generatorOptions", "namespace"}
# Lists that strategic merge patches merge by a key (Kubernetes' patchMergeKey), not replace.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}


def merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if k in out and k in MERGE_KEYS and isinstance(v, list):
                key = MERGE_KEYS[k]
                items = [dict(i) for i in out[k]]
                for p in v:
                    match = [i for i, b in enumerate(items) if b.get(key) == p.get(key)]
                    if match:
                        items[match[0]] = merge(items[match[0]], p)
                    else:
                        items.append(p)
                out[k] = items
            else:
                out[k] = merge(out[k], v) if k in out else v
        return out
    return patch


def containers(obj):
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def render(folder):
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(k) - SUPPORTED
    assert not unknown, f"{folder}: the test's renderer does not apply {unknown}"
    objs = []
    for r in k.get("resources", []):
        path = folder / r
        objs += render(path) if path.is_dir() else list(yaml.safe_load_all(path.read_text()))
    for g in k.get("configMapGenerator", []):
        assert k.get("generatorOptions", {}).get("disableNameSuffixHash") is True, \
            f"{folder}: the renderer makes ConfigMaps without kustomize's hash suffix only"
        assert set(g) == {"name", "files"}, g
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]},
                     "data": {Path(f).name: (folder / f).read_text() for f in g["files"]}})
    for p in k.get("patches", []):
        assert set(p) == {"path"}, p
        patch = yaml.safe_load((folder / p["path"]).read_text())
        hits = [i for i, o in enumerate(objs) if (o["kind"], o["metadata"]["name"]) ==
                (patch["kind"], patch["metadata"]["name"])]
        assert len(hits) == 1, f"{p['path']} patches {len(hits)} objects"
        objs[hits[0]] = merge(objs[hits[0]], patch)
    for img in k.get("images", []):
        for o in objs:
            for c in containers(o):
                if c["image"].split(":")[0] == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img['newTag']}"
    if "namespace" in k:
        for o in objs:
            o["metadata"]["namespace"] = k["namespace"]
    return objs


def by_kind(objs):
    return {o["kind"]: o for o in objs}


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request):
    return request.param, render(KUBE / request.param)


def test_every_object_is_valid_kubernetes(rendered):
    name, objs = rendered
    assert objs
    for o in objs:
        # Raises ValidationError naming the field; returns the version it validated against.
        assert kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True) == "1.34", (name, o["kind"])


def test_renderer_matches_kubectl_kustomize(rendered):
    name, objs = rendered
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed; the renderer's objects are validated on their own")
    out = subprocess.run(["kubectl", "kustomize", str(KUBE / name)], capture_output=True, text=True,
                         check=True).stdout
    def norm(x, field=None):
        # Lists merged by key come out in another order from kustomize (patch items first).
        if isinstance(x, dict):
            return {k: norm(v, k) for k, v in x.items()}
        if isinstance(x, list):
            items = [norm(v) for v in x]
            return sorted(items, key=lambda i: json.dumps(i, sort_keys=True)) if field in MERGE_KEYS else items
        return x

    def key(o):
        return json.dumps(norm(o), sort_keys=True)
    assert sorted(map(key, yaml.safe_load_all(out))) == sorted(map(key, objs))


def test_validation_rejects_a_broken_manifest():
    """The validator is not a formality: an unknown field and a wrong type both fail."""
    dep = by_kind(render(KUBE / "base"))["Deployment"]
    bad = merge(dep, {"spec": {"replicas": "two"}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    bad = merge(dep, {"spec": {"template": {"spec": {"terminationGracePeriod": 40}}}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def arg_value(args, flag, default):
    return args[args.index(flag) + 1] if flag in args else default


@pytest.mark.parametrize("overlay", ["overlays/one-model", "overlays/components"])
def test_deployment_follows_berths_contract(overlay):
    objs = by_kind(render(KUBE / overlay))
    dep, svc, hpa = objs["Deployment"], objs["Service"], objs["HorizontalPodAutoscaler"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][0] == "serve"  # the image's entrypoint is berth
    assert "/berth:" in c["image"]
    shutdown = float(arg_value(c["args"], "--shutdown-timeout", 25))
    assert pod["terminationGracePeriodSeconds"] > shutdown
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["http"]
    assert port == 8080
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/ping", "port": "http"}, probe
    # A draining server answers /ping 503: liveness must not kill it before the drain ends.
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > shutdown
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e.get("value") for e in c["env"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    cache = mounts[env["XDG_CACHE_HOME"]]
    assert "ephemeral" in volumes[cache] or "persistentVolumeClaim" in volumes[cache]
    assert pod["securityContext"]["runAsUser"] == 1000  # the image's user
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": dep["metadata"]["name"]}
    if overlay.endswith("one-model"):
        assert env["BERTH_MODEL"].startswith("s3://")
    else:
        config = arg_value(c["args"], "--config", None)
        mount_dir = str(Path(config).parent)
        cm_name = volumes[mounts[mount_dir]]["configMap"]["name"]
        cm = objs["ConfigMap"]
        assert cm["metadata"]["name"] == cm_name
        comp = json.loads(cm["data"][Path(config).name])
        assert set(comp) <= {"endpoint", "backend", "components"}
        known = {"name", "model", "memory_mib", "copies", "max_num_seqs", "max_model_len",
                 "max_num_batched_tokens", "kv_cache_tokens", "threads", "tool_call_parser",
                 "request_timeout_s"}
        names = [x["name"] for x in comp["components"]]
        assert len(set(names)) == len(names)
        for x in comp["components"]:
            assert set(x) <= known and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", x["name"]), x
        assert "BERTH_MODEL" not in env  # a model per component, not per pod


def exported_gauges():
    """Every gauge berth's C sources declare for /metrics: "name", "gauge" pairs (the router's table)
    and "# TYPE name gauge" lines (the server's format strings)."""
    text = "\n".join(p.read_text() for p in (ROOT / "server").rglob("*.c"))
    return set(re.findall(r"# TYPE (\w+) gauge", text)) | set(re.findall(r'"(berth_\w+)", "gauge"', text))


@pytest.mark.parametrize("overlay", ["base", "overlays/one-model", "overlays/components"])
def test_autoscaler_metric_is_exported_by_berth_and_published_by_the_adapter(overlay):
    hpa = by_kind(render(KUBE / overlay))["HorizontalPodAutoscaler"]
    (m,) = hpa["spec"]["metrics"]
    assert m["type"] == "Pods"
    name = m["pods"]["metric"]["name"]
    if overlay.endswith("components"):
        assert name.startswith("berth_component_")  # what the --config router exports
    else:
        assert name == "berth_num_requests_waiting"
    assert name in exported_gauges(), f"berth does not export the gauge {name}"
    adapter = by_kind(render(KUBE / "prometheus-adapter"))["ConfigMap"]
    rules = yaml.safe_load(adapter["data"]["config.yaml"])["rules"]
    published = [r for r in rules if r["name"]["as"] == name]
    assert len(published) == 1
    assert re.fullmatch(rf"\^{name}\$", published[0]["name"]["matches"])
    assert published[0]["seriesQuery"].startswith(name + "{")
    assert published[0]["resources"]["overrides"]["pod"] == {"resource": "pod"}
    dep = by_kind(render(KUBE / overlay))["Deployment"]
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/path"] == "/metrics" and ann["prometheus.io/port"] == "8080"
