"""deploy/kubernetes: the manifests validate offline against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields fail), the RayCluster (a CRD, for which no schema
is bundled) has the shape KubeRay needs and its pod templates validate as core PodTemplates,
and the facility overlay renders (`kubectl kustomize`, when kubectl is here) with every
Secret and ConfigMap it references."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import KUBERNETES, load_yaml

kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")

K8S_VERSION = "1.31.0"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "facility"
KUSTOMIZE_FILES = {"kustomization.yaml", "kustomizeconfig.yaml"}


def base_documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(BASE.glob("*.yaml")) if path.name not in KUSTOMIZE_FILES
            for doc in load_yaml(path)]


def validate(doc: dict[str, Any]) -> None:
    if doc["kind"] == "RayCluster":
        check_raycluster(doc)
    else:
        kv.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    (deployment,) = [d for d in base_documents() if d["kind"] == "Deployment"][:1]
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("doc", base_documents(),
                         ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_base_manifest_validates(doc: dict[str, Any]) -> None:
    validate(doc)


def test_base_has_every_piece() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in base_documents()}
    assert {("RayCluster", "autopilot"), ("StatefulSet", "redis"), ("Service", "redis"),
            ("StatefulSet", "autopilot-gateway"), ("Service", "autopilot-gateway"),
            ("PodDisruptionBudget", "autopilot-gateway"),
            ("Deployment", "autopilot-monitor"), ("Service", "autopilot-monitor")} <= kinds
    (kustomization,) = load_yaml(BASE / "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in BASE.glob("*.yaml")} - KUSTOMIZE_FILES
    assert listed == on_disk


def gateway_pieces() -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """The gateway StatefulSet, its Services by name, and its PodDisruptionBudget."""
    docs = load_yaml(BASE / "gateway.yaml")
    (stateful,) = [d for d in docs if d["kind"] == "StatefulSet"]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    (budget,) = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    return stateful, services, budget


def test_two_gateway_replicas_each_with_its_own_address() -> None:
    stateful, services, budget = gateway_pieces()
    spec = stateful["spec"]
    replicas = spec["replicas"]
    assert replicas == 2
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    governing = services[spec["serviceName"]]["spec"]  # in-cluster pod names
    assert governing["clusterIP"] == "None"
    # a ZeroMQ conversation is sticky: each pod has a Service selecting it alone
    for i in range(replicas):
        selector = services[f"autopilot-gateway-{i}"]["spec"]["selector"]
        assert selector["statefulset.kubernetes.io/pod-name"] == f"autopilot-gateway-{i}"
        assert selector.items() - {("statefulset.kubernetes.io/pod-name",
                                    f"autopilot-gateway-{i}")} <= labels.items()
    assert 1 <= budget["spec"]["minAvailable"] < replicas  # a drain leaves one serving
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AUTOPILOT_PLANNER_PLANNER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.name"  # each gateway its own planner id
    mounts = {m["name"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in spec["volumeClaimTemplates"]}
    assert "data" in mounts and "data" in claims  # its own volume: none shared between pods


# The subset of KubeRay's RayCluster (ray.io/v1) this deployment relies on.
RAYCLUSTER_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "spec": {
            "type": "object",
            "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs",
                         "enableInTreeAutoscaling"],
            "properties": {
                "rayVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                "enableInTreeAutoscaling": {"const": True},
                "headGroupSpec": {
                    "type": "object", "required": ["rayStartParams", "template"],
                    "properties": {"rayStartParams": {
                        "type": "object", "additionalProperties": {"type": "string"}}}},
                "workerGroupSpecs": {"type": "array", "minItems": 1, "items": {
                    "type": "object",
                    "required": ["groupName", "replicas", "minReplicas", "maxReplicas",
                                 "rayStartParams", "template"],
                    "properties": {
                        "groupName": {"type": "string"},
                        "replicas": {"type": "integer", "minimum": 0},
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer", "minimum": 1},
                        "rayStartParams": {"type": "object",
                                           "additionalProperties": {"type": "string"}}}}},
            },
        },
    },
}


def check_raycluster(doc: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(doc, RAYCLUSTER_SCHEMA)
    spec = doc["spec"]
    templates = [("head", spec["headGroupSpec"]["template"])]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # no actors on the head
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))
        assert resources["campaign_worker"] > 0
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == group["rayStartParams"]["num-gpus"]
        templates.append((group["groupName"], group["template"]))
    for name, template in templates:  # the pod templates are core objects: validate them so
        kv.validate({"apiVersion": "v1", "kind": "PodTemplate",
                     "metadata": {"name": f"raycluster-{name}"}, "template": template},
                    K8S_VERSION, strict=True)
        env = {e["name"]: e for e in template["spec"]["containers"][0]["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", name
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "autopilot-ray-token"


def referenced(doc: dict[str, Any], kind: str) -> set[str]:
    """Names of Secrets or ConfigMaps a manifest refers to, anywhere in it."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if kind == "Secret":
                for key in ("secretName",):
                    if key in node:
                        found.add(node[key])
                if "secretKeyRef" in node:
                    found.add(node["secretKeyRef"]["name"])
            if kind == "ConfigMap" and "configMap" in node:
                found.add(node["configMap"]["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


def test_facility_overlay_renders(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is absent: the overlay was not rendered (base manifests above "
                    "were validated)")
    tree = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    secrets = tree / "overlays" / "facility" / "secrets"
    for name in ("redis.password", "signing.key", "ray_auth_token", "curve/planner.key_secret",
                 "curve/planner.key", "curve-authorized/microscope-a.key"):
        (secrets / name).parent.mkdir(parents=True, exist_ok=True)
        (secrets / name).write_text("test\n")
    result = subprocess.run([kubectl, "kustomize", str(tree / "overlays" / "facility")],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(result.stdout)
    docs = load_yaml(rendered)
    for doc in docs:
        assert doc["metadata"].get("namespace", "autopilot") == "autopilot" or \
            doc["kind"] == "Namespace"
        validate(doc)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for doc in docs:
        for kind in ("Secret", "ConfigMap"):
            missing = {n for n in referenced(doc, kind) if (kind, n) not in names}
            assert not missing, f"{doc['kind']}/{doc['metadata']['name']} needs {missing}"
    (ray,) = [d for d in docs if d["kind"] == "RayCluster"]
    images = [ray["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"],
              *[g["template"]["spec"]["containers"][0]["image"]
                for g in ray["spec"]["workerGroupSpecs"]]]
    assert all(i.startswith("registry.facility.example/") for i in images), images
