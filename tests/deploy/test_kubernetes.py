"""deploy/kubernetes: rendered as ``kubectl apply -k`` would, and validated against the Kubernetes schemas."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as schemas

from ledgergate.infrastructure.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
#: the oldest Kubernetes still commonly run, and the newest the package ships schemas for
VERSIONS = ("1.29.0", schemas.latest_version())
KEY = base64.b64encode(bytes(range(32))).decode()
CONNECTION = "LEDGERGATE_DATABASE_URL=postgresql://lg:pw@db.internal:5432/lg\nLEDGERGATE_REDIS_URL=redis://cache.internal:6379/0\n"


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())  # type: ignore[no-any-return]


def generated_secrets(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secrets of ``secretGenerator``, with stand-ins for the files an operator creates."""
    stand_ins = {f"secrets/{name}.key": KEY + "\n" for name in ("jwt-signing", "master", "signing")}
    secrets = []
    for generator in spec["secretGenerator"]:
        data: dict[str, str] = {}
        for entry in generator.get("files", []):
            key, _, source = entry.partition("=")
            data[key] = stand_ins[source]
        for source in generator.get("envs", []):
            assert source == "secrets/connection.env"
            for line in CONNECTION.splitlines():
                name, _, value = line.partition("=")
                data[name] = value
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        secrets.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": generator["name"]}, "data": encoded})
    return secrets


def render(optional: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    spec = kustomization()
    documents = []
    for resource in [*spec["resources"], *optional]:
        documents.extend(d for d in yaml.safe_load_all((BASE / resource).read_text()) if d)
    documents.extend(generated_secrets(spec))
    images = {image["name"]: image for image in spec.get("images", [])}
    for document in documents:
        if document["kind"] != "Namespace":
            document["metadata"]["namespace"] = spec["namespace"]
        for container in document.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            image = images.get(container["image"])
            if image is not None:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return documents


def by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas_with_no_unknown_field(version: str) -> None:
    documents = render(optional=("ingress.yaml",))
    assert {d["kind"] for d in documents} >= {
        "Deployment",
        "Service",
        "Ingress",
        "Secret",
        "ConfigMap",
        "PodDisruptionBudget",
    }
    for document in documents:
        schemas.validate(document, version, strict=True)


def test_a_manifest_with_a_misspelt_field_is_refused_by_the_validation() -> None:
    deployment = copy.deepcopy(by_kind(render(), "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/ready"
    with pytest.raises(schemas.ValidationError):
        schemas.validate(deployment, VERSIONS[-1], strict=True)


def test_the_deployment_runs_several_unprivileged_replicas_with_probes_and_resources() -> None:
    (deployment,) = by_kind(render(), "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in port
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "ledgergate:0.1.0"


def test_the_service_and_the_disruption_budget_select_the_gateway_pods() -> None:
    documents = render(optional=("ingress.yaml",))
    (deployment,) = by_kind(documents, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (service,) = by_kind(documents, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    (budget,) = by_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    (ingress,) = by_kind(documents, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_pods_get_their_keys_and_external_database_and_redis_from_secrets(tmp_path: Path) -> None:
    documents = render()
    (deployment,) = by_kind(documents, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    secrets = {s["metadata"]["name"]: s for s in by_kind(documents, "Secret")}
    configs = {c["metadata"]["name"]: c for c in by_kind(documents, "ConfigMap")}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            env.update(configs[source["configMapRef"]["name"]]["data"])
        else:
            data = secrets[source["secretRef"]["name"]]["data"]
            env.update({k: base64.b64decode(v).decode() for k, v in data.items()})
    for variable in container["env"]:
        path = Path(variable["value"])
        volume = mounts[str(path.parent)]
        key_file = tmp_path / path.name  # the file the secret volume would hold
        key_file.write_bytes(base64.b64decode(secrets[volume["secret"]["secretName"]]["data"][path.name]))
        env[variable["name"]] = str(key_file)
    settings = load_settings({**env, "LEDGERGATE_DATA_DIR": str(tmp_path)}, env_file=tmp_path / "none.env")
    assert settings.database.kind == "postgres" and settings.database.host == "db.internal"
    assert settings.redis_url == "redis://cache.internal:6379/0"
    assert settings.workers > 1 and settings.port == 4444
    assert settings.jwt_signing_key == settings.master_key == settings.signing_key == bytes(range(32))
    assert "deploy/kubernetes/secrets/" in (ROOT / ".gitignore").read_text().splitlines()
