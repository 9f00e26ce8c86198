"""Every generated project's Kubernetes manifests are valid API objects and agree
with its image: same port, user and probes (schemas from `kubernetes-validate`,
offline; the env names are checked against the settings by the project's tests)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from support import choices

VERSION = "1.33.0"  # of the Kubernetes API
MANIFESTS = Path("deploy") / "kubernetes"


def _objects(project: Path) -> dict[str, dict[str, Any]]:
    folder = project / MANIFESTS
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


@pytest.fixture(params=choices("variant"))
def project(request: pytest.FixtureRequest, baked: Callable[..., Path]) -> Path:
    return baked(variant=request.param, project_name='Über "K8s" Demo 2')


def test_every_manifest_is_a_valid_kubernetes_object(project: Path) -> None:
    objects = _objects(project)

    for name, manifest in objects.items():
        # Raises, naming the field, for anything the API server would refuse.
        checked = kubernetes_validate.validate(manifest, VERSION, strict=True)
        assert checked, name
    assert {manifest["kind"] for manifest in objects.values()} == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_kustomization_lists_every_manifest(project: Path) -> None:
    kustomization = yaml.safe_load(
        (project / MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8")
    )

    assert sorted(kustomization["resources"]) == sorted(_objects(project))
    assert kustomization["images"][0]["name"] == project.name


def _container(project: Path) -> Mapping[str, Any]:
    deployment = _objects(project)["deployment.yaml"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, Mapping)
    return container


def test_the_pod_runs_the_image_as_its_dockerfile_says(project: Path) -> None:
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    deployment = _objects(project)["deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(project)
    exposed = re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    healthcheck = re.search(r"127\.0\.0\.1:\d+(/\w+)", dockerfile)
    assert exposed
    assert user
    assert healthcheck

    assert container["ports"][0]["containerPort"] == int(exposed.group(1))
    assert pod["securityContext"]["runAsUser"] == int(user.group(1))
    assert pod["securityContext"]["runAsGroup"] == int(user.group(2))
    assert container["readinessProbe"]["httpGet"]["path"] == healthcheck.group(1)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts == {"/tmp"}  # noqa: S108 - an emptyDir, the only writable path


def test_every_replica_has_requests_and_limits(project: Path) -> None:
    resources = _container(project)["resources"]

    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_compose_checks_the_app_as_the_image_and_the_cluster_do(project: Path) -> None:
    """Readiness, not liveness, makes the app healthy: one path in all three places."""
    compose = yaml.safe_load((project / "compose.yaml").read_text(encoding="utf-8"))
    probe = " ".join(compose["services"]["app"]["healthcheck"]["test"])
    container = _container(project)
    port = container["ports"][0]["containerPort"]
    path = container["readinessProbe"]["httpGet"]["path"]

    assert f"127.0.0.1:{port}{path}" in probe
