"""The EKS fleet that runs long tasks: cluster, node group and its Cluster Autoscaler, the worker Deployment and
its KEDA autoscaling on SQS, worker logs in CloudWatch, operators' access, and the VPC with its endpoints."""

from __future__ import annotations

import math
from pathlib import Path

from aws_cdk import CfnJson, CfnOutput, Duration, IgnoreMode, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.lambda_layer_kubectl_v36 import KubectlV36Layer
from constructs import Construct

from stacks.assets import task_package_sources
from stacks.config import EnvironmentConfig
from stacks.constructs import worker_manifests as m
from stacks.constructs.log_retention import retention as log_retention
from stacks.constructs.operational_alarms import FIVE_MINUTES, OperationalAlarms
from stacks.constructs.tables import JOB_WRITES, grant_job_items

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "workers/Dockerfile"
# .dockerignore syntax. The image needs only these, and the configured task packages' sources (only those: other
# copies under build/ would change the asset hash); excluding the rest keeps the asset hash, and so image
# rebuilds, tied to them (CDK also adds the repo's .dockerignore).
IMAGE_INCLUDE = ["!requirements-worker.txt", "!tasklane", "!workers"]
IMAGE_EXCLUDE_AFTER = ["**/__pycache__", "**/*.pyc"]


def image_exclude(task_packages: Path | None) -> list[str]:
    extra = [f"!{task_packages.relative_to(REPO_ROOT)}"] if task_packages else []
    return ["*", *IMAGE_INCLUDE, *extra, *IMAGE_EXCLUDE_AFTER]


# kubectl supports one minor version of skew, but an exact match avoids surprises: bump both together.
KUBECTL_LAYERS: dict[str, type[KubectlV36Layer]] = {"1.36": KubectlV36Layer}

# The fleet's VPC (CDK's default range, stated so that the endpoints' security group can name it).
VPC_CIDR = "10.0.0.0/16"
# vCPUs of the instance types the node group may use; a type not listed is refused (add it here).
INSTANCE_VCPUS = {"m6i.large": 2, "m6i.xlarge": 4, "m6i.2xlarge": 8, "m7i.large": 2, "m7i.xlarge": 4, "m7i.2xlarge": 8}
# CPU each node keeps from pods: the DaemonSets (VPC CNI 25m, kube-proxy 100m, the CloudWatch agent and
# Fluent Bit of the observability add-on) with room to spare.
DAEMONSET_CPU_MILLI = 500
# One node's worth of CPU for the cluster's own pods (CoreDNS, KEDA, the Cluster Autoscaler, the add-on).
SYSTEM_NODES = 1
# Container Insights writes to these log groups (Fluent Bit: application, host, dataplane; the agent:
# performance); made here first, they keep the environment's retention instead of never expiring.
CONTAINER_INSIGHTS_LOGS = ("application", "host", "dataplane", "performance")
OBSERVABILITY_ADDON = "amazon-cloudwatch-observability"
OBSERVABILITY_NAMESPACE = "amazon-cloudwatch"
OBSERVABILITY_SERVICE_ACCOUNT = "cloudwatch-agent"
# EKS's cluster-wide admin access policy, granted to the roles in admin_role_arns.
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
# Pending worker pods for this long: the node group is at its maximum or cannot launch nodes.
PENDING_PERIODS = 3


def _kube_reserved_cpu_milli(vcpus: int) -> int:
    """EKS's CPU reservation for the kubelet: 6% of the first core, 1% of the second, 0.5% of the next two,
    0.25% of the rest."""
    return 60 + 10 * min(max(vcpus - 1, 0), 1) + 5 * min(max(vcpus - 2, 0), 2) + round(2.5 * max(vcpus - 4, 0))


def workers_per_node(instance_type: str, cpu_request_milli: int) -> int:
    """Worker pods one node of `instance_type` holds, by CPU (the requests bind on CPU before memory)."""
    if instance_type not in INSTANCE_VCPUS:
        raise ValueError(f"worker_node_instance_type {instance_type!r} unknown; known: {', '.join(INSTANCE_VCPUS)}")
    vcpus = INSTANCE_VCPUS[instance_type]
    allocatable = vcpus * 1000 - _kube_reserved_cpu_milli(vcpus) - DAEMONSET_CPU_MILLI
    return allocatable // cpu_request_milli


def nodes_needed(config: EnvironmentConfig, cpu_request_milli: int) -> int:
    """Nodes for worker_max_replicas worker pods plus the cluster's own pods."""
    per_node = workers_per_node(config.worker_node_instance_type, cpu_request_milli)
    return math.ceil(config.worker_max_replicas / per_node) + SYSTEM_NODES


def _cpu_milli(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


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
        alarms: OperationalAlarms,
    ) -> None:
        super().__init__(scope, id)
        if config.kubernetes_version not in KUBECTL_LAYERS:
            raise ValueError(
                f"kubernetes_version {config.kubernetes_version!r} has no kubectl layer here; "
                f"supported: {', '.join(KUBECTL_LAYERS)}"
            )
        prefix = config.resource_prefix()
        cluster_name = f"{prefix}-workers"
        retention = log_retention(config.log_retention_days)
        cpu_request = _cpu_milli(m.WorkerManifestSettings.cpu_request)
        if config.worker_node_max < (needed := nodes_needed(config, cpu_request)):
            raise ValueError(
                f"worker_node_max={config.worker_node_max} cannot hold worker_max_replicas="
                f"{config.worker_max_replicas}: {config.worker_node_instance_type} fits "
                f"{workers_per_node(config.worker_node_instance_type, cpu_request)} workers, so {needed} nodes "
                "are needed (one for the cluster's own pods)"
            )

        flow_logs = logs.LogGroup(self, "VpcFlowLogs", retention=retention, removal_policy=config.removal_policy)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            # One NAT gateway is cheapest; two keep egress up when an AZ fails (nat_gateways per environment).
            nat_gateways=config.nat_gateways,
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
        # Free gateway endpoints: the fleet's DynamoDB and S3 traffic (and ECR's image layers, which are in
        # S3) skips the NAT gateway. Interface endpoints cost per hour and AZ: only where listed.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.vpc.add_gateway_endpoint("DynamoDB", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        if config.interface_endpoints:
            # HTTPS from inside the VPC only (nodes and pods), nothing else.
            endpoints_group = ec2.SecurityGroup(
                self, "EndpointsSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
                description="HTTPS from the fleet VPC to its interface endpoints",
            )
            endpoints_group.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from the VPC")
        for service in config.interface_endpoints:
            self.vpc.add_interface_endpoint(
                service.replace(".", "-").title().replace("-", ""),
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                security_groups=[endpoints_group],
                open=False,
            )

        # EKS writes to this group, by this name; made here first, it keeps our retention. Never retained,
        # so that the stack can be deleted and created again under the same cluster name.
        control_plane_logs = logs.LogGroup(
            self,
            "ControlPlaneLogs",
            log_group_name=f"/aws/eks/{cluster_name}/cluster",
            retention=retention,
            removal_policy=RemovalPolicy.DESTROY,
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
            # Access entries grant operators cluster access (admin_role_arns) without editing aws-auth.
            authentication_mode=eks.AuthenticationMode.API_AND_CONFIG_MAP,
            cluster_logging=list(eks.ClusterLoggingTypes),
            default_capacity=0,
            output_cluster_name=True,
        )
        self.cluster.node.add_dependency(control_plane_logs)
        admin = eks.AccessPolicy.from_access_policy_name(
            ADMIN_ACCESS_POLICY, access_scope_type=eks.AccessScopeType.CLUSTER
        )
        for index, role_arn in enumerate(config.admin_role_arns):
            self.cluster.grant_access(f"Admin{index}", role_arn, [admin])

        # IMDSv2 only, one hop: pods (one hop further) cannot reach the node's credentials; they use IRSA.
        # What needs instance metadata runs on the host network (VPC CNI, kube-proxy, the observability
        # add-on's agent and Fluent Bit), so it still can.
        node_template = ec2.LaunchTemplate(
            self,
            "WorkerNodeTemplate",
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(50, volume_type=ec2.EbsDeviceVolumeType.GP3, encrypted=True),
                )
            ],
        )
        self.nodegroup = self.cluster.add_nodegroup_capacity(
            "Workers",
            # Amazon Linux 2 AMIs stop at Kubernetes 1.32.
            ami_type=eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
            instance_types=[ec2.InstanceType(config.worker_node_instance_type)],
            min_size=config.worker_node_min,
            max_size=config.worker_node_max,
            desired_size=config.worker_node_min,
            launch_template_spec=eks.LaunchTemplateSpec(
                id=node_template.launch_template_id or "", version=node_template.latest_version_number
            ),
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            labels={"tasklane.io/pool": "workers"},
            # A node update that cannot evict a draining worker fails instead of killing it (EKS would
            # otherwise terminate the node after 15 minutes).
            force_update=False,
        )

        # Built only when the app is deployed or its assets published; synth just hashes the files.
        task_packages = task_package_sources(config.task_packages)
        self.image = ecr_assets.DockerImageAsset(
            self,
            "WorkerImage",
            directory=str(REPO_ROOT),
            file=DOCKERFILE,
            build_args={
                "PYTHON_IMAGE": config.worker_base_image,
                **({"TASK_PACKAGES": str(task_packages.relative_to(REPO_ROOT))} if task_packages else {}),
            },
            exclude=image_exclude(task_packages),
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
            max_task_timeout_seconds=config.max_eks_task_timeout_seconds,
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
        grant_job_items(self.worker_service_account, table, JOB_WRITES)
        # Task code runs here: it reads the large payloads the dispatcher stored, never uploads or manifests.
        manifest_bucket.grant_read(self.worker_service_account, "payloads/*")

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

        self._cluster_autoscaler(cluster_name)
        self._observability(cluster_name, retention)
        alarms.add(
            self,
            "WorkerPodsPending",
            cloudwatch.Metric(
                namespace="ContainerInsights",
                metric_name="pod_status_pending",
                dimensions_map={"ClusterName": cluster_name, "Namespace": settings.namespace},
                statistic="Maximum",
                period=FIVE_MINUTES,
            ),
            threshold=1,
            evaluation_periods=PENDING_PERIODS,
            description="Worker pods have waited 15 minutes for a node: the node group is at worker_node_max or "
            "cannot launch instances (see the runbook).",
        )

        CfnOutput(self, "WorkerImageUri", value=self.image.image_uri)

    def _cluster_autoscaler(self, cluster_name: str) -> None:
        """Nodes follow the pods KEDA asks for: the Cluster Autoscaler grows the node group when worker pods
        are Pending and shrinks it when nodes sit idle, never below a running worker (safe-to-evict)."""
        account = self.cluster.add_service_account(
            "ClusterAutoscalerServiceAccount",
            name=m.CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
            namespace=m.CLUSTER_AUTOSCALER_NAMESPACE,
        )
        # Reads need "*" (no resource-level permissions); it may only resize this cluster's groups.
        account.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                resources=["*"],
            )
        )
        account.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                resources=["*"],
                conditions={"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            )
        )
        account.add_to_principal_policy(
            iam.PolicyStatement(actions=["eks:DescribeNodegroup"], resources=[self.nodegroup.nodegroup_arn])
        )
        chart = self.cluster.add_helm_chart(
            "ClusterAutoscaler",
            chart="cluster-autoscaler",
            repository=m.CLUSTER_AUTOSCALER_CHART_REPOSITORY,
            version=m.CLUSTER_AUTOSCALER_CHART_VERSION,
            release="cluster-autoscaler",
            namespace=m.CLUSTER_AUTOSCALER_NAMESPACE,
            values=m.cluster_autoscaler_values(cluster_name, Stack.of(self).region),
        )
        chart.node.add_dependency(account)

    def _observability(self, cluster_name: str, retention: logs.RetentionDays) -> None:
        """Worker logs (stdout, JSON) and Container Insights metrics through EKS's CloudWatch Observability
        add-on, whose agent and Fluent Bit use their own IRSA role."""
        log_groups = [
            logs.LogGroup(
                self,
                f"ContainerInsights{kind.title()}Logs",
                log_group_name=f"/aws/containerinsights/{cluster_name}/{kind}",
                retention=retention,
                removal_policy=RemovalPolicy.DESTROY,
            )
            for kind in CONTAINER_INSIGHTS_LOGS
        ]
        provider = self.cluster.open_id_connect_provider
        issuer = provider.open_id_connect_provider_issuer
        conditions = CfnJson(
            self,
            "ObservabilityTrustConditions",
            value={
                f"{issuer}:sub": f"system:serviceaccount:{OBSERVABILITY_NAMESPACE}:{OBSERVABILITY_SERVICE_ACCOUNT}",
                f"{issuer}:aud": "sts.amazonaws.com",
            },
        )
        role = iam.Role(
            self,
            "ObservabilityRole",
            assumed_by=iam.OpenIdConnectPrincipal(provider).with_conditions({"StringEquals": conditions}),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchAgentServerPolicy")],
        )
        addon = eks.CfnAddon(
            self,
            "Observability",
            addon_name=OBSERVABILITY_ADDON,
            cluster_name=self.cluster.cluster_name,
            service_account_role_arn=role.role_arn,
            resolve_conflicts="OVERWRITE",
        )
        addon.node.add_dependency(self.nodegroup)
        for group in log_groups:
            addon.node.add_dependency(group)
