"""Kubernetes manifests of the worker fleet, as plain dicts so tests can validate them without synthesizing.

Values may be CDK tokens (image URI, queue URL, region): they are strings here and resolve at deploy time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]

WORKER_PORT = 8080
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
# A pod asked to stop (scale-in, rollout, node drain) gets SIGTERM and its grace period before SIGKILL. The
# worker stops taking messages at once and lets its running tasks finish: each ends by its own timeout, at
# most the longest the API accepts (task_timeout_max_seconds.eks), so the drain deadline is that plus time
# to commit, and the grace period adds the worker's last long poll (workers/__init__.py) and its exit.
DRAIN_COMMIT_MARGIN_SECONDS = 60
EXIT_MARGIN_SECONDS = 30
POLL_WAIT_SECONDS = 20
# The Cluster Autoscaler never removes a node that runs a pod so annotated: a worker's node stays until
# the worker has drained and gone, whatever the node's use.
SAFE_TO_EVICT_ANNOTATION = "cluster-autoscaler.kubernetes.io/safe-to-evict"

KEDA_NAMESPACE = "keda"
KEDA_OPERATOR_SERVICE_ACCOUNT = "keda-operator"
KEDA_CHART_REPOSITORY = "https://kedacore.github.io/charts"
KEDA_CHART_VERSION = "2.21.1"
TRIGGER_AUTHENTICATION_NAME = "keda-operator-aws"

# The node autoscaler (docs/ARCHITECTURE.md says why this one). Its minor version should match the
# cluster's; v1.35.2 is the newest release verified here: bump it with kubernetes_version.
CLUSTER_AUTOSCALER_NAMESPACE = "kube-system"
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
CLUSTER_AUTOSCALER_CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
CLUSTER_AUTOSCALER_CHART_VERSION = "9.43.1"
CLUSTER_AUTOSCALER_IMAGE_TAG = "v1.35.2"

# Scale-in is slow and one pod at a time: every removed pod drains its in-flight tasks, and the in-flight
# count dips briefly between a worker's receive calls, which must not read as spare capacity.
SCALE_DOWN_STABILIZATION_SECONDS = 300
SCALE_DOWN_PODS_PER_MINUTE = 1
POLLING_INTERVAL_SECONDS = 15
# Only used when scaling from 1 to 0 replicas (min_replicas 0): wait this long with an empty queue.
COOLDOWN_SECONDS = 600


@dataclass(frozen=True)
class WorkerManifestSettings:
    image: str
    table_name: str
    queue_url: str
    bucket_name: str
    region: str
    min_replicas: int
    max_replicas: int
    concurrency: int
    # The long queue's visibility timeout: the worker extends it on a heartbeat derived from this.
    visibility_seconds: int
    # The longest timeout_seconds an EKS task may have: what a stopping pod must be able to wait out.
    max_task_timeout_seconds: int
    # Where a windowed job's next short tasks go when a long one ends; empty: the worker sends none.
    short_queue_url: str = ""
    # TASK_PACKAGES: the task packages in the image, by module name; empty: only the built-in task types.
    task_packages: str = ""
    namespace: str = "tasklane"
    name: str = "tasklane-worker"
    service_account: str = "tasklane-worker"
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory: str = "1Gi"

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas, max >= 1: {self.min_replicas}, {self.max_replicas}"
            )
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.max_task_timeout_seconds < 1:
            raise ValueError("max_task_timeout_seconds must be >= 1")

    @property
    def drain_seconds(self) -> int:
        """How long a stopping worker waits for its running tasks (WORKER_DRAIN_SECONDS)."""
        return self.max_task_timeout_seconds + DRAIN_COMMIT_MARGIN_SECONDS

    @property
    def termination_grace_seconds(self) -> int:
        """The pod's grace period: the drain, the long poll it waits out, and the exit."""
        return self.drain_seconds + POLL_WAIT_SECONDS + EXIT_MARGIN_SECONDS

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/component": "worker",
            "app.kubernetes.io/part-of": "tasklane",
        }

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/component": "worker"}


def namespace_manifest(name: str, *, enforce: str = "restricted") -> Manifest:
    # `restricted` makes the API server refuse any pod that could run as root or escalate privileges.
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": enforce,
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }


def keda_namespace() -> Manifest:
    # KEDA's chart is restricted-compliant today; only warning keeps a future chart change from blocking installs.
    return namespace_manifest(KEDA_NAMESPACE, enforce="baseline")


def _env(s: WorkerManifestSettings) -> list[dict[str, str]]:
    values = {
        "TABLE_NAME": s.table_name,
        "LONG_QUEUE_URL": s.queue_url,
        "MANIFEST_BUCKET": s.bucket_name,
        **({"SHORT_QUEUE_URL": s.short_queue_url} if s.short_queue_url else {}),
        **({"TASK_PACKAGES": s.task_packages} if s.task_packages else {}),
        "AWS_REGION": s.region,
        # botocore takes its region from this one.
        "AWS_DEFAULT_REGION": s.region,
        "WORKER_CONCURRENCY": str(s.concurrency),
        "WORKER_VISIBILITY_SECONDS": str(s.visibility_seconds),
        "WORKER_DRAIN_SECONDS": str(s.drain_seconds),
        "WORKER_POLL_WAIT_SECONDS": str(POLL_WAIT_SECONDS),
        # The kubelet probes the pod IP, so the health server must not listen on loopback only.
        "WORKER_HEALTH_HOST": "0.0.0.0",
        "WORKER_HEALTH_PORT": str(WORKER_PORT),
    }
    return [{"name": key, "value": value} for key, value in values.items()]


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(s: WorkerManifestSettings) -> Manifest:
    container = {
        "name": "worker",
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": WORKER_PORT, "protocol": "TCP"}],
        "env": _env(s),
        "resources": {
            "requests": {"cpu": s.cpu_request, "memory": s.memory},
            "limits": {"cpu": s.cpu_limit, "memory": s.memory},
        },
        # Startup covers imports and AWS client set-up, so liveness never kills a pod that is still starting.
        "startupProbe": _probe(LIVENESS_PATH, period=5, failures=24),
        "livenessProbe": _probe(LIVENESS_PATH, period=15, failures=4),
        "readinessProbe": _probe(READINESS_PATH, period=10, failures=3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": s.name, "namespace": s.namespace, "labels": s.labels},
        "spec": {
            # No `replicas`: KEDA's HPA owns the count, and a value here would reset it on every apply.
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": s.selector},
            # New pods come up before old ones start draining, so a rollout never lowers capacity.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": s.labels, "annotations": {SAFE_TO_EVICT_ANNOTATION: "false"}},
                "spec": {
                    "serviceAccountName": s.service_account,
                    # IRSA mounts its own projected token; the worker never calls the Kubernetes API.
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": s.termination_grace_seconds,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": s.selector},
                        }
                    ],
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                },
            },
        },
    }


def pod_disruption_budget(s: WorkerManifestSettings) -> Manifest:
    # maxUnavailable rather than minAvailable: it still lets nodes drain when KEDA has scaled to 0 or 1 pod.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": s.name, "namespace": s.namespace, "labels": s.labels},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": s.selector}},
    }


def trigger_authentication(s: WorkerManifestSettings) -> Manifest:
    # The scaler calls SQS with the KEDA operator's own IRSA role (identityOwner: keda). This replaces the
    # trigger's `identityOwner: operator` metadata, deprecated since KEDA 2.13, and keeps the worker's role
    # out of KEDA's hands.
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": TRIGGER_AUTHENTICATION_NAME, "namespace": s.namespace, "labels": s.labels},
        "spec": {"podIdentity": {"provider": "aws", "identityOwner": "keda"}},
    }


def scaled_object(s: WorkerManifestSettings) -> Manifest:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": s.name, "namespace": s.namespace, "labels": s.labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": s.name},
            "minReplicaCount": s.min_replicas,
            "maxReplicaCount": s.max_replicas,
            "pollingInterval": POLLING_INTERVAL_SECONDS,
            "cooldownPeriod": COOLDOWN_SECONDS,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": SCALE_DOWN_STABILIZATION_SECONDS,
                            "selectPolicy": "Min",
                            "policies": [{"type": "Pods", "value": SCALE_DOWN_PODS_PER_MINUTE, "periodSeconds": 60}],
                        },
                    },
                },
            },
            "triggers": [
                {
                    "type": "aws-sqs-queue",
                    "authenticationRef": {"name": TRIGGER_AUTHENTICATION_NAME},
                    "metadata": {
                        "queueURL": s.queue_url,
                        "awsRegion": s.region,
                        # One pod per `concurrency` messages, counting the ones being worked on: otherwise
                        # a busy fleet with an empty backlog would look idle and be scaled in.
                        "queueLength": str(s.concurrency),
                        "scaleOnInFlight": "true",
                    },
                }
            ],
        },
    }


def worker_workload(s: WorkerManifestSettings) -> list[Manifest]:
    return [deployment(s), pod_disruption_budget(s)]


def worker_autoscaling(s: WorkerManifestSettings) -> list[Manifest]:
    return [trigger_authentication(s), scaled_object(s)]


def keda_chart_values() -> dict[str, Any]:
    # The chart reuses the IRSA service account the stack creates instead of making its own.
    return {
        "serviceAccount": {"operator": {"create": False, "name": KEDA_OPERATOR_SERVICE_ACCOUNT}},
    }


def cluster_autoscaler_values(cluster_name: str, region: str) -> dict[str, Any]:
    """The chart finds the node group by the tags EKS puts on its Auto Scaling group, and uses the IRSA
    service account the stack creates."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": CLUSTER_AUTOSCALER_IMAGE_TAG},
        "rbac": {"serviceAccount": {"create": False, "name": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT}},
        "extraArgs": {
            # Fewest idle resources after a scale-up; spread across the node group's AZs.
            "expander": "least-waste",
            "balance-similar-node-groups": "true",
            # Nodes that run only system pods (CoreDNS, KEDA) or pods with emptyDir may still go; worker
            # pods are kept by their safe-to-evict annotation instead.
            "skip-nodes-with-system-pods": "false",
            "skip-nodes-with-local-storage": "false",
            "scale-down-unneeded-time": "10m",
        },
    }
