"""deploy/k8s/ checked offline: every manifest against the Kubernetes schemas
(kubernetes-validate, strict: no unknown field), and the shard wiring between them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "deploy" / "k8s"
K8S_VERSION = "1.30.0"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in documents(name)]


def test_every_manifest_is_valid_against_the_schemas() -> None:
    kinds = []
    for doc in resources():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        kinds.append(doc["kind"])
    assert {"Job", "Deployment", "ConfigMap", "ServiceAccount", "Role", "RoleBinding"} <= set(
        kinds)


def test_the_validator_rejects_a_broken_job() -> None:
    job = next(d for d in resources() if d["kind"] == "Job")
    broken = copy.deepcopy(job)
    broken["spec"]["completionMode"] = 4  # must be a string
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    unknown = copy.deepcopy(job)
    unknown["spec"]["template"]["spec"]["containers"][0]["shardCount"] = 4
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, K8S_VERSION, strict=True)


def test_the_job_runs_every_shard_at_once_and_prometheus_finds_them() -> None:
    job = next(d for d in resources() if d["kind"] == "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    shards = int(env["KCSTRESS_SHARD_COUNT"]["value"])
    assert spec["completions"] == spec["parallelism"] == shards > 1
    assert env["PRIVATE_KEY"]["valueFrom"]["secretKeyRef"]["name"]  # never a literal key
    assert "value" not in env["PRIVATE_KEY"]
    assert "controller-uid" in env["KCSTRESS_RUN_TAG"]["valueFrom"]["fieldRef"]["fieldPath"]
    annotations = spec["template"]["metadata"]["annotations"]
    port = int(annotations["prometheus.io/port"])
    assert port in [p["containerPort"] for p in container["ports"]]
    assert container["args"][container["args"].index("--port") + 1] == str(port)
    config = next(d for d in resources() if d["kind"] == "ConfigMap")
    prom = yaml.safe_load(config["data"]["prometheus.yml"])
    job_config = prom["scrape_configs"][0]
    assert job_config["kubernetes_sd_configs"][0]["role"] == "pod"
    keeps = {tuple(r["source_labels"]): r["regex"] for r in job_config["relabel_configs"]
             if r.get("action") == "keep"}
    pod_label = job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    assert keeps[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)] == pod_label


def test_the_dashboard_sums_across_shards() -> None:
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/kcstress.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    by_shard = [e for e in exprs if "by (shard" in e]
    assert by_shard, "no panel per shard"
    # the run-wide figures sum over every series (so over every shard), never pick one
    achieved = next(p for p in dashboard["panels"] if p["title"] == "Achieved tx/s")
    assert achieved["targets"][0]["expr"].startswith("sum(")
