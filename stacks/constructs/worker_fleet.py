"""The EKS fleet that runs long tasks: cluster, node group, worker Deployment and its KEDA autoscaling on SQS."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, IgnoreMode, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_eks as eks
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer
from constructs import Construct

from stacks.assets import task_package_sources
from stacks.config import EnvironmentConfig
from stacks.constructs import worker_manifests as m

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "workers/Dockerfile"
# .dockerignore syntax. The image needs only these; excluding the rest keeps the asset hash, and so image
# rebuilds, tied to them (CDK also adds the repo's .dockerignore).
IMAGE_EXCLUDE = [
    "*",
    "!requirements-worker.txt",
    "!tasklane",
    "!workers",
    "!build/lambda/task-packages-src-*",
    "**/__pycache__",
    "**/*.pyc",
]

# kubectl supports one minor version of skew, but an exact match avoids surprises: bump both together.
KUBECTL_LAYERS: dict[str, type[KubectlV36Layer]] = {"1.36": KubectlV36Layer}

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"log_retention_days={days} is not one of CloudWatch's periods: {sorted(_RETENTION)}")
    return _RETENTION[days]


def _endpoint_access(config: EnvironmentConfig) -> eks.EndpointAccess:
    if not config.eks_public_endpoint:
        return eks.EndpointAccess.PRIVATE
    if config.eks_public_access_cidrs:
        return eks.EndpointAccess.PUBLIC_AND_PRIVATE.only_from(*config.eks_public_access_cidrs)
    return eks.EndpointAccess.PUBLIC_AND_PRIVATE


class WorkerFleet(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: EnvironmentConfig,
        long_queue: sqs.IQueue,
        short_queue: sqs.IQueue,
        table: dynamodb.ITable,
        manifest_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, id)
        if config.kubernetes_version not in KUBECTL_LAYERS:
            raise ValueError(
                f"kubernetes_version {config.kubernetes_version!r} has no kubectl layer here; "
                f"supported: {', '.join(KUBECTL_LAYERS)}"
            )
        if config.worker_node_min > config.worker_node_max:
            raise ValueError("worker_node_min must not exceed worker_node_max")
        prefix = config.resource_prefix()
        cluster_name = f"{prefix}-workers"
        retention = _retention(config.log_retention_days)

        flow_logs = logs.LogGroup(self, "VpcFlowLogs", retention=retention, removal_policy=config.removal_policy)
        # One NAT gateway: the fleet's egress is AWS APIs and image pulls, not worth one per AZ.
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="nodes", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=19),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )

        # EKS creates this group on first log write with no expiry; made here first, it keeps our retention.
        control_plane_logs = logs.LogGroup(
            self,
            "ControlPlaneLogs",
            log_group_name=f"/aws/eks/{cluster_name}/cluster",
            retention=retention,
            removal_policy=config.removal_policy,
        )
        self.cluster = eks.Cluster(
            self,
            "Cluster",
            cluster_name=cluster_name,
            version=eks.KubernetesVersion.of(config.kubernetes_version),
            kubectl_layer=KUBECTL_LAYERS[config.kubernetes_version](self, "KubectlLayer"),
            vpc=self.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)],
            endpoint_access=_endpoint_access(config),
            # Access entries let operators be granted cluster access later without editing aws-auth.
            authentication_mode=eks.AuthenticationMode.API_AND_CONFIG_MAP,
            cluster_logging=list(eks.ClusterLoggingTypes),
            default_capacity=0,
            output_cluster_name=True,
        )
        self.cluster.node.add_dependency(control_plane_logs)

        self.nodegroup = self.cluster.add_nodegroup_capacity(
            "Workers",
            # Amazon Linux 2 AMIs stop at Kubernetes 1.32.
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            instance_types=[ec2.InstanceType(config.worker_node_instance_type)],
            min_size=config.worker_node_min,
            max_size=config.worker_node_max,
            desired_size=config.worker_node_min,
            disk_size=50,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            labels={"tasklane.io/pool": "workers"},
        )

        # Built only when the app is deployed or its assets published; synth just hashes the files.
        task_packages = task_package_sources(config.task_packages)
        self.image = ecr_assets.DockerImageAsset(
            self,
            "WorkerImage",
            directory=str(REPO_ROOT),
            file=DOCKERFILE,
            build_args={"TASK_PACKAGES": str(task_packages.relative_to(REPO_ROOT))} if task_packages else None,
            exclude=IMAGE_EXCLUDE,
            ignore_mode=IgnoreMode.DOCKER,
            platform=ecr_assets.Platform.LINUX_AMD64,
        )

        settings = m.WorkerManifestSettings(
            image=self.image.image_uri,
            table_name=table.table_name,
            queue_url=long_queue.queue_url,
            bucket_name=manifest_bucket.bucket_name,
            short_queue_url=short_queue.queue_url,
            region=Stack.of(self).region,
            min_replicas=config.worker_min_replicas,
            max_replicas=config.worker_max_replicas,
            concurrency=config.worker_concurrency,
            visibility_seconds=config.long_task_visibility_seconds,
            task_packages=config.task_package_modules,
        )

        # Worker identity (IRSA): this queue, this table, this bucket and nothing else.
        worker_namespace = self.cluster.add_manifest("WorkerNamespace", m.namespace_manifest(settings.namespace))
        self.worker_service_account = self.cluster.add_service_account(
            "WorkerServiceAccount", name=settings.service_account, namespace=settings.namespace
        )
        self.worker_service_account.node.add_dependency(worker_namespace)
        long_queue.grant_consume_messages(self.worker_service_account)
        # A long task of a windowed job that ends lets the job's next task be sent, to either queue.
        long_queue.grant_send_messages(self.worker_service_account)
        short_queue.grant_send_messages(self.worker_service_account)
        table.grant_read_write_data(self.worker_service_account)
        manifest_bucket.grant_read(self.worker_service_account)

        workload = self.cluster.add_manifest("WorkerWorkload", *m.worker_workload(settings))
        workload.node.add_dependency(self.worker_service_account)

        # KEDA's operator gets its own IRSA service account, used through a TriggerAuthentication with the
        # `aws` pod identity provider, rather than static keys or the worker's role: it can only read the
        # queue's attributes (message counts).
        keda_namespace = self.cluster.add_manifest("KedaNamespace", m.keda_namespace())
        self.keda_service_account = self.cluster.add_service_account(
            "KedaOperatorServiceAccount", name=m.KEDA_OPERATOR_SERVICE_ACCOUNT, namespace=m.KEDA_NAMESPACE
        )
        self.keda_service_account.node.add_dependency(keda_namespace)
        long_queue.grant(self.keda_service_account, "sqs:GetQueueAttributes")

        self.keda = self.cluster.add_helm_chart(
            "Keda",
            chart="keda",
            repository=m.KEDA_CHART_REPOSITORY,
            version=m.KEDA_CHART_VERSION,
            release="keda",
            namespace=m.KEDA_NAMESPACE,
            create_namespace=False,
            values=m.keda_chart_values(),
            # The ScaledObject needs KEDA's CRDs and admission webhook up before it is applied.
            wait=True,
            timeout=Duration.minutes(10),
        )
        self.keda.node.add_dependency(self.keda_service_account)

        autoscaling = self.cluster.add_manifest("WorkerAutoscaling", *m.worker_autoscaling(settings))
        autoscaling.node.add_dependency(self.keda)
        autoscaling.node.add_dependency(workload)

        CfnOutput(self, "WorkerImageUri", value=self.image.image_uri)
