"""The EKS worker fleet: its Kubernetes manifests against the schemas, and the synthesized WorkersStack."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import kubernetes_validate
import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from keda_crd_schemas import SCHEMAS

from stacks.config import EnvironmentConfig
from stacks.constructs import worker_manifests as m
from stacks.constructs.job_workflow import JobWorkflow
from stacks.constructs.operational_alarms import OperationalAlarms
from stacks.constructs.python_functions import PythonFunctions
from stacks.constructs.task_queues import TaskQueues
from stacks.constructs.worker_fleet import REPO_ROOT
from stacks.nag import apply_nag
from stacks.workers_stack import WorkersStack

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

K8S_VERSION = EnvironmentConfig(name="test").kubernetes_version + ".0"
TOKEN = "${Token}"  # stands in for CloudFormation references inside synthesized manifests


def settings(**overrides: Any) -> m.WorkerManifestSettings:
    values: dict[str, Any] = {
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:abc",
        "table_name": "tasklane-test-table",
        "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/tasklane-test-long",
        "bucket_name": "tasklane-test-manifests",
        "region": "eu-west-1",
        "min_replicas": 1,
        "max_replicas": 7,
        "concurrency": 4,
        "visibility_seconds": 300,
        "max_task_timeout_seconds": 3600,
    }
    return m.WorkerManifestSettings(**(values | overrides))


def all_manifests(s: m.WorkerManifestSettings) -> list[m.Manifest]:
    return [m.namespace_manifest(s.namespace), m.keda_namespace(), *m.worker_workload(s), *m.worker_autoscaling(s)]


def validate(manifest: m.Manifest) -> None:
    """Built-in kinds against Kubernetes' own OpenAPI schemas (strict: unknown fields fail); KEDA's CRDs,
    which kubernetes-validate does not ship, against the hand-checked schemas in keda_crd_schemas."""
    if manifest["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(manifest, SCHEMAS[manifest["kind"]])
    else:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def by_kind(manifests: list[m.Manifest], kind: str) -> m.Manifest:
    (found,) = [x for x in manifests if x["kind"] == kind]
    return found


# --- manifests, without synthesizing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["Namespace", "Deployment", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"]
)
def test_each_manifest_is_valid_for_its_schema(kind: str) -> None:
    for manifest in [x for x in all_manifests(settings()) if x["kind"] == kind]:
        validate(manifest)


def test_schema_validation_catches_mistakes() -> None:
    deployment = m.deployment(settings())
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    scaled = m.scaled_object(settings())
    scaled["spec"]["triggers"][0]["metadata"]["scaleOnInflight"] = "true"
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)


def test_worker_pod_probes_grace_and_drain() -> None:
    pod = m.deployment(settings())["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = {e["name"]: e["value"] for e in container["env"]}
    # The drain waits out the longest task the API accepts (3600 s here), and the grace period covers the
    # drain plus one long poll (workers/__init__.py).
    assert int(env["WORKER_DRAIN_SECONDS"]) > 3600
    drain_and_poll = int(env["WORKER_DRAIN_SECONDS"]) + int(env["WORKER_POLL_WAIT_SECONDS"])
    assert drain_and_poll < pod["terminationGracePeriodSeconds"]
    assert env["WORKER_HEALTH_HOST"] == "0.0.0.0"
    assert env["WORKER_HEALTH_PORT"] == "8080"
    assert env["WORKER_VISIBILITY_SECONDS"] == "300"
    assert set(env) >= {"TABLE_NAME", "LONG_QUEUE_URL", "MANIFEST_BUCKET", "AWS_REGION", "WORKER_CONCURRENCY"}
    assert env["WORKER_CONCURRENCY"] == "4"
    assert env["LONG_QUEUE_URL"].endswith("/tasklane-test-long")
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert pod["serviceAccountName"] == "tasklane-worker"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_deployment_leaves_the_replica_count_to_keda() -> None:
    assert "replicas" not in m.deployment(settings())["spec"]


def test_pdb_selects_the_worker_pods() -> None:
    s = settings()
    pdb, deployment = m.pod_disruption_budget(s), m.deployment(s)
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1


def test_scaled_object_scales_the_deployment_on_in_flight_messages() -> None:
    s = settings(min_replicas=0, max_replicas=9, concurrency=3)
    scaled, auth = m.scaled_object(s), m.trigger_authentication(s)
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": m.deployment(s)["metadata"]["name"],
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 9)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"] == {
        "queueURL": s.queue_url,
        "awsRegion": "eu-west-1",
        "queueLength": "3",
        "scaleOnInFlight": "true",
    }
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert auth["metadata"]["namespace"] == scaled["metadata"]["namespace"]
    assert auth["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "keda"}
    scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] >= 300
    assert scale_down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]


@pytest.mark.parametrize(("low", "high"), [(3, 2), (-1, 2), (0, 0)])
def test_settings_reject_impossible_replica_bounds(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="replicas"):
        settings(min_replicas=low, max_replicas=high)


# --- the synthesized stack -----------------------------------------------------------------------------------


@dataclass
class Synth:
    app: App
    stack: WorkersStack
    template: Template

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.to_json()["Resources"]
        return resources

    def of_type(self, cfn_type: str) -> dict[str, Any]:
        return {k: r for k, r in self.resources.items() if r["Type"] == cfn_type}


def synth(outdir: Path, **config: Any) -> Synth:
    app = App(outdir=str(outdir))
    data = Stack(app, "Data")
    environment = EnvironmentConfig(name="test", **config)
    table = dynamodb.Table(
        data,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
    )
    bucket = s3.Bucket(data, "ManifestBucket", enforce_ssl=True)
    # The job workflow the workers resume, with the queues it dispatches to (the long one is the fleet's).
    queues = TaskQueues(data, "Queues", config=environment)
    workflow = JobWorkflow(
        data, "Workflow", config=environment, functions=PythonFunctions(data, "Functions", config=environment),
        table=table, manifests=bucket, queues=queues,
    )
    alarms = OperationalAlarms(
        data, "Alarms", config=environment, queues=queues, runner=workflow.step_functions["finalize"],
        drain=workflow.step_functions["finalize"], state_machine=workflow.state_machine, step_functions={},
        tables={},
    )
    stack = WorkersStack(
        app,
        "Workers",
        config=environment,
        alarms=alarms,
        long_queue=queues.long,
        short_queue=queues.short,
        table=table,
        manifest_bucket=bucket,
        workflow=workflow,
    )
    Aspects.of(app).add(AwsSolutionsChecks())
    apply_nag(stack, "workers")
    return Synth(app, stack, Template.from_stack(stack))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth(tmp_path_factory.mktemp("cdk.out"), worker_min_replicas=0, worker_max_replicas=6)


def _text(value: Any) -> str:
    """A CloudFormation string, with every reference in an Fn::Join replaced by TOKEN."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return str(separator).join(p if isinstance(p, str) else TOKEN for p in parts)


def applied_manifests(s: Synth) -> Iterator[tuple[str, list[m.Manifest]]]:
    for logical_id, resource in s.of_type("Custom::AWSCDK-EKS-KubernetesResource").items():
        yield logical_id, json.loads(_text(resource["Properties"]["Manifest"]))


def applied(s: Synth) -> list[m.Manifest]:
    return [manifest for _, manifests in applied_manifests(s) for manifest in manifests]


def test_no_unsuppressed_nag_errors(synthesized: Synth) -> None:
    errors = Annotations.from_stack(synthesized.stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [f"{e.id}: {e.entry.data}" for e in errors] == []


def test_cluster_version_logging_and_endpoint(synthesized: Synth) -> None:
    synthesized.template.has_resource_properties(
        "Custom::AWSCDK-EKS-Cluster",
        {
            "Config": Match.object_like(
                {
                    "name": "tasklane-test-workers",
                    "version": "1.36",
                    "logging": {
                        "clusterLogging": [
                            {
                                "enabled": True,
                                "types": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
                            }
                        ]
                    },
                    "resourcesVpcConfig": Match.object_like(
                        {"endpointPublicAccess": True, "endpointPrivateAccess": True}
                    ),
                }
            )
        },
    )
    synthesized.template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/aws/eks/tasklane-test-workers/cluster", "RetentionInDays": 14}
    )


def test_kubectl_layer_comes_from_the_v36_package(synthesized: Synth) -> None:
    (layer,) = synthesized.of_type("AWS::Lambda::LayerVersion").values()
    assert "kubectl" in layer["Properties"]["Description"].lower()


def test_managed_node_group(synthesized: Synth) -> None:
    synthesized.template.resource_count_is("AWS::EKS::Nodegroup", 1)
    synthesized.template.has_resource_properties(
        "AWS::EKS::Nodegroup",
        {
            "AmiType": "AL2023_x86_64_STANDARD",
            "InstanceTypes": ["m6i.large"],
            "ScalingConfig": {"MinSize": 1, "MaxSize": 4, "DesiredSize": 1},
            "LaunchTemplate": Match.object_like({"Id": Match.any_value()}),
            # A node update that cannot drain a worker fails rather than killing its tasks.
            "ForceUpdateEnabled": False,
        },
    )


def _policy_of_service_account(s: Synth, name: str) -> list[dict[str, Any]]:
    """The statements of the IAM role that the ServiceAccount `name` is annotated with (IRSA)."""
    marker = f'"kind":"ServiceAccount","metadata":{{"name":"{name}"'
    (parts,) = [
        r["Properties"]["Manifest"]["Fn::Join"][1]
        for r in s.of_type("Custom::AWSCDK-EKS-KubernetesResource").values()
        if marker in json.dumps(r["Properties"]["Manifest"]).replace('\\"', '"')
    ]
    (role_id,) = {p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict) and "Fn::GetAtt" in p}
    assert s.resources[role_id]["Type"] == "AWS::IAM::Role"
    return [
        statement
        for policy in s.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _imports(resources: Any) -> set[str]:
    """The exports of the Data stack that a statement's resources refer to."""
    text = json.dumps(resources)
    return set(re.findall(r'"Fn::ImportValue": "Data:ExportsOutputFnGetAtt(\w+?)[0-9A-F]{8}Arn', text))


RESUME = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
RESUME_ARN = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":states:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
         ":stateMachine:tasklane-test-job-lifecycle"],
    ]
}


def test_worker_role_reaches_only_its_queues_table_and_bucket(synthesized: Synth) -> None:
    """Consume long tasks; send a windowed job's next task to either queue; the job table; read the bucket."""
    allowed: dict[str, set[str]] = {}
    for statement in _policy_of_service_account(synthesized, "tasklane-worker"):
        resources = statement["Resource"]
        assert "*" not in (resources if isinstance(resources, list) else [resources])
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if actions & RESUME:
            continue  # the workflow's, below
        assert len(_imports(resources)) == 1, statement
        for name in _imports(resources):
            allowed.setdefault(name, set()).update(actions)
    assert set(allowed) == {"QueuesLongTasks", "QueuesShortTasks", "Table", "ManifestBucket"}
    consume = {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"}
    assert consume | {"sqs:SendMessage"} <= allowed["QueuesLongTasks"]
    assert "sqs:SendMessage" in allowed["QueuesShortTasks"] and not consume & allowed["QueuesShortTasks"]
    assert not {a for a in allowed["QueuesLongTasks"] | allowed["QueuesShortTasks"] if not a.startswith("sqs:")}
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= allowed["Table"]
    assert "s3:GetObject*" in allowed["ManifestBucket"]
    assert not {a for a in allowed["ManifestBucket"] if not a.startswith(("s3:Get", "s3:List"))}


def test_worker_knows_where_to_send_a_windowed_jobs_next_tasks(synthesized: Synth) -> None:
    from workers.settings import WorkerSettings

    deployment = by_kind(applied(synthesized), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SHORT_QUEUE_URL"] == TOKEN and env["LONG_QUEUE_URL"] == TOKEN
    assert {"short_queue_url", "long_queue_url"} <= set(WorkerSettings.model_fields)


def test_worker_role_may_resume_the_job_workflow_only(synthesized: Synth) -> None:
    """The worker that finishes a job's last task resumes its waiting execution, and may do nothing else there."""
    statements = _policy_of_service_account(synthesized, "tasklane-worker")
    resume = [s for s in statements if any(a.startswith("states:") for a in s["Action"])]
    assert [(set(s["Action"]), s["Resource"]) for s in resume] == [(RESUME, RESUME_ARN)]
    data = synthesized.app.node.find_child("Data")
    (machine,) = [r for r in Template.from_stack(data).find_resources("AWS::StepFunctions::StateMachine").values()]
    assert RESUME_ARN["Fn::Join"][1][-1].endswith(":" + machine["Properties"]["StateMachineName"])


def test_keda_operator_role_only_reads_queue_attributes(synthesized: Synth) -> None:
    statements = _policy_of_service_account(synthesized, "keda-operator")
    assert [(s["Action"], _imports(s["Resource"])) for s in statements] == [
        ("sqs:GetQueueAttributes", {"QueuesLongTasks"})
    ]


def test_the_apps_worker_service_account_may_resume_the_apps_workflow(cdk_app: CdkApp) -> None:
    """In the app itself, the resume grant names the orchestration stack's state machine."""
    arns = cdk_app.arns()
    access = cdk_app.access("workers", cdk_app.workers.fleet.worker_service_account)
    assert access == {
        arns.job_items: "write-items",
        arns.bucket: "read",
        f"{arns.bucket}/payloads/*": "read",
        arns.long: "consume+send",
        arns.short: "send",
        arns.resume: "resume",
    }


def test_keda_is_installed_from_its_pinned_chart(synthesized: Synth) -> None:
    synthesized.template.has_resource_properties(
        "Custom::AWSCDK-EKS-HelmChart",
        {
            "Chart": "keda",
            "Repository": "https://kedacore.github.io/charts",
            "Version": m.KEDA_CHART_VERSION,
            "Namespace": "keda",
            "Release": "keda",
            "Wait": True,
            "Values": json.dumps(m.keda_chart_values(), separators=(",", ":")),
        },
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+", m.KEDA_CHART_VERSION)


def test_manifests_are_applied_valid_and_in_order(synthesized: Synth) -> None:
    kinds_by_resource = {
        logical_id: [x["kind"] for x in manifests] for logical_id, manifests in applied_manifests(synthesized)
    }
    applied_kinds = [kind for kinds in kinds_by_resource.values() for kind in kinds]
    for kind in ["Deployment", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"]:
        assert applied_kinds.count(kind) == 1, kind
    for manifest in applied(synthesized):
        if manifest["kind"] in ("ServiceAccount", "ConfigMap"):
            continue  # written by CDK itself, not by this project
        validate(manifest)

    def logical_id_of(kind: str) -> str:
        (found,) = [lid for lid, kinds in kinds_by_resource.items() if kind in kinds]
        return found

    depends = {k: set(r.get("DependsOn", [])) for k, r in synthesized.resources.items()}
    (chart_id,) = [
        k for k, r in synthesized.of_type("Custom::AWSCDK-EKS-HelmChart").items() if r["Properties"]["Chart"] == "keda"
    ]
    assert {chart_id, logical_id_of("Deployment")} <= depends[logical_id_of("ScaledObject")]


def test_synthesized_scaled_object_uses_config_and_queue(synthesized: Synth) -> None:
    scaled = by_kind(applied(synthesized), "ScaledObject")
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 6)
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    assert metadata["queueURL"] == TOKEN
    assert metadata["awsRegion"] == TOKEN
    deployment = by_kind(applied(synthesized), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith(TOKEN) or TOKEN in container["image"]


def test_image_asset_needs_no_docker_at_synth(synthesized: Synth) -> None:
    outdir = Path(synthesized.app.outdir)
    assets = json.loads((outdir / "Workers.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "workers/Dockerfile"
    staged = {p.name for p in (outdir / image["source"]["directory"]).iterdir()}
    assert staged <= {"workers", "tasklane", "requirements-worker.txt", ".dockerignore"}
    assert {"workers", "tasklane"} <= staged


def test_private_endpoint_and_restricted_public_cidrs(tmp_path: Path) -> None:
    private = synth(tmp_path / "private", eks_public_endpoint=False)
    private.template.has_resource_properties(
        "Custom::AWSCDK-EKS-Cluster",
        {
            "Config": Match.object_like(
                {
                    "resourcesVpcConfig": Match.object_like(
                        {"endpointPublicAccess": False, "endpointPrivateAccess": True}
                    )
                }
            )
        },
    )
    restricted = synth(tmp_path / "restricted", eks_public_access_cidrs=["203.0.113.0/24"])
    restricted.template.has_resource_properties(
        "Custom::AWSCDK-EKS-Cluster",
        {
            "Config": Match.object_like(
                {"resourcesVpcConfig": Match.object_like({"publicAccessCidrs": ["203.0.113.0/24"]})}
            )
        },
    )


def test_unsupported_kubernetes_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kubectl layer"):
        synth(tmp_path, kubernetes_version="1.29")


# --- the image ------------------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_and_checks_liveness() -> None:
    dockerfile = (REPO_ROOT / "workers" / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.replace("\\\n", " ").splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    starts = [i for i, line in enumerate(instructions) if line.startswith("FROM ")]
    assert len(starts) >= 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.12-slim", dockerfile, re.MULTILINE)
    final = instructions[starts[-1] :]
    users = [line for line in final if line.startswith("USER ")]
    assert users and not re.match(r"USER (root|0)\b", users[-1])
    (healthcheck,) = [line for line in final if line.startswith("HEALTHCHECK")]
    assert "urllib" in healthcheck and "http://127.0.0.1:8080/healthz" in healthcheck
    assert not [line for line in final if re.search(r"\b(curl|apt-get|gcc|build-essential|pip install)\b", line)]
    assert final[-1] == 'CMD ["python", "-m", "workers"]'


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".venv", "node_modules", "cdk.out", "build", ".local", "web", "tests", ".git"} <= ignored


# --- growing with the queue, and stopping without killing a task ---------------------------------------------


def test_grace_period_follows_the_longest_task_the_api_accepts() -> None:
    short, week = settings(max_task_timeout_seconds=600), settings(max_task_timeout_seconds=7 * 24 * 3600)
    for s in (short, week):
        pod = m.deployment(s)["spec"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert int(env["WORKER_DRAIN_SECONDS"]) == s.drain_seconds >= s.max_task_timeout_seconds + 30
        assert pod["terminationGracePeriodSeconds"] == s.termination_grace_seconds
        assert s.termination_grace_seconds > s.drain_seconds + int(env["WORKER_POLL_WAIT_SECONDS"])
    assert week.termination_grace_seconds > 7 * 24 * 3600


def test_worker_pods_keep_their_node_until_they_are_gone() -> None:
    template = m.deployment(settings())["spec"]["template"]
    assert template["metadata"]["annotations"] == {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}


def test_every_environments_pods_wait_out_its_longest_task(every_env_app: CdkApp) -> None:
    (deployment,) = [x for x in _applied_in(every_env_app) if x["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    longest = every_env_app.config.task_timeout_max_seconds["eks"]
    assert int(env["WORKER_DRAIN_SECONDS"]) > longest
    drain_and_poll = int(env["WORKER_DRAIN_SECONDS"]) + int(env["WORKER_POLL_WAIT_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > drain_and_poll


def _applied_in(app: CdkApp) -> list[m.Manifest]:
    return [
        manifest
        for r in app.resources("workers", "Custom::AWSCDK-EKS-KubernetesResource").values()
        for manifest in json.loads(_text(r["Properties"]["Manifest"]))
    ]


def test_every_environments_nodes_hold_its_most_replicas(every_env_app: CdkApp) -> None:
    """Node bounds agree with replica bounds: worker_node_max nodes hold worker_max_replicas pods."""
    from stacks.constructs.worker_fleet import SYSTEM_NODES, workers_per_node

    config = every_env_app.config
    per_node = workers_per_node(config.worker_node_instance_type, 500)
    assert (config.worker_node_max - SYSTEM_NODES) * per_node >= config.worker_max_replicas
    (group,) = every_env_app.resources("workers", "AWS::EKS::Nodegroup").values()
    scaling = group["Properties"]["ScalingConfig"]
    assert (scaling["MinSize"], scaling["MaxSize"]) == (config.worker_node_min, config.worker_node_max)
    assert group["Properties"]["InstanceTypes"] == [config.worker_node_instance_type]


def test_prod_can_run_fifty_workers() -> None:
    """The issue's numbers: KEDA may ask for 50 workers in prod, and two fit an m6i.large."""
    from stacks.constructs.worker_fleet import workers_per_node

    assert workers_per_node("m6i.large", 500) == 2
    assert workers_per_node("m6i.xlarge", 500) == 6


def test_node_bounds_that_cannot_hold_the_replicas_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot hold worker_max_replicas=20"):
        synth(tmp_path, worker_max_replicas=20, worker_node_max=4)


def test_cluster_autoscaler_runs_with_its_own_narrow_role(synthesized: Synth) -> None:
    charts = {
        r["Properties"]["Chart"]: r["Properties"] for r in synthesized.of_type("Custom::AWSCDK-EKS-HelmChart").values()
    }
    autoscaler = charts["cluster-autoscaler"]
    assert autoscaler["Repository"] == m.CLUSTER_AUTOSCALER_CHART_REPOSITORY
    assert autoscaler["Version"] == m.CLUSTER_AUTOSCALER_CHART_VERSION
    assert autoscaler["Namespace"] == "kube-system"
    values = json.loads(_text(autoscaler["Values"]))
    assert values["autoDiscovery"] == {"clusterName": "tasklane-test-workers"}
    assert values["rbac"]["serviceAccount"] == {"create": False, "name": "cluster-autoscaler"}
    statements = _policy_of_service_account(synthesized, "cluster-autoscaler")
    resize = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    (resizing,) = [s for s in statements if set(s["Action"]) & resize]
    assert resizing["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/tasklane-test-workers": "owned"}
    }
    for statement in statements:
        assert all(a.startswith(("autoscaling:", "ec2:Describe", "ec2:GetInstanceTypes", "eks:DescribeNodegroup"))
                   for a in synthesized_actions(statement)), statement


def synthesized_actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_nodes_allow_imdsv2_only_one_hop_away(synthesized: Synth) -> None:
    (template,) = synthesized.of_type("AWS::EC2::LaunchTemplate").values()
    data = template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}
    (device,) = data["BlockDeviceMappings"]
    assert device["Ebs"]["Encrypted"] is True


def test_worker_logs_go_to_cloudwatch_with_the_environments_retention(synthesized: Synth) -> None:
    (addon,) = synthesized.of_type("AWS::EKS::Addon").values()
    assert addon["Properties"]["AddonName"] == "amazon-cloudwatch-observability"
    role_id = addon["Properties"]["ServiceAccountRoleArn"]["Fn::GetAtt"][0]
    trust = json.dumps(synthesized.resources[role_id]["Properties"]["AssumeRolePolicyDocument"])
    assert "AssumeRoleWithWebIdentity" in trust
    log_groups = synthesized.of_type("AWS::Logs::LogGroup").items()
    groups = {r["Properties"].get("LogGroupName"): (group_id, r) for group_id, r in log_groups}
    for kind in ("application", "host", "dataplane", "performance"):
        group_id, group = groups[f"/aws/containerinsights/tasklane-test-workers/{kind}"]
        assert group["Properties"]["RetentionInDays"] == 14
        assert group["DeletionPolicy"] == "Delete"  # a fixed name: never retained
        assert group_id in addon["DependsOn"]  # made before Fluent Bit could make it without a retention


def test_pending_worker_pods_raise_an_alarm(synthesized: Synth) -> None:
    (alarm,) = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
                if a["Properties"]["MetricName"] == "pod_status_pending"]
    assert alarm["Namespace"] == "ContainerInsights"
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "ClusterName": "tasklane-test-workers", "Namespace": "tasklane"
    }
    assert alarm["AlarmActions"]


def test_gateway_endpoints_and_interface_endpoints_only_where_listed(synthesized: Synth, tmp_path: Path) -> None:
    def services(s: Synth) -> dict[str, str]:
        return {
            _text(e["Properties"]["ServiceName"]).rsplit(".", 1)[-1]
            if e["Properties"].get("VpcEndpointType") == "Gateway" else _text(e["Properties"]["ServiceName"]):
            e["Properties"].get("VpcEndpointType", "Gateway")
            for e in s.of_type("AWS::EC2::VPCEndpoint").values()
        }

    assert services(synthesized) == {"s3": "Gateway", "dynamodb": "Gateway"}
    listed = synth(tmp_path, interface_endpoints=["sqs", "sts"], worker_max_replicas=6)
    interface = {name for name, kind in services(listed).items() if kind == "Interface"}
    assert {name.rsplit(".", 1)[-1] for name in interface} == {"sqs", "sts"}


def test_operators_get_cluster_admin_through_access_entries(tmp_path: Path) -> None:
    arn = "arn:aws:iam::123456789012:role/operators"
    s = synth(tmp_path, admin_role_arns=[arn], worker_max_replicas=6)
    (entry,) = s.of_type("AWS::EKS::AccessEntry").values()
    assert entry["Properties"]["PrincipalArn"] == arn
    (policy,) = entry["Properties"]["AccessPolicies"]
    assert _text(policy["PolicyArn"]).endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert policy["AccessScope"] == {"Type": "cluster"}
