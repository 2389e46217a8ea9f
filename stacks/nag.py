"""cdk-nag (AwsSolutions pack) over every stack; every suppression and its reason live here."""

from __future__ import annotations

from aws_cdk import Aspects, Stack
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo

# Findings accepted for every stack of the platform.
COMMON_SUPPRESSIONS = [
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        reason="Lambda functions use AWSLambdaBasicExecutionRole, AWS's managed policy limited to writing their own logs.",
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason="Wildcards are the ones CDK grant_* methods generate (index ARNs, object keys under one bucket, "
        "log streams, X-Ray); every resource in them is this stack's own.",
    ),
    NagPackSuppression(
        id="AwsSolutions-L1",
        reason="Functions run Python 3.13, supported by AWS until 2029; the layer is built for it and the emulator's 3.11.",
    ),
]

# Findings specific to one stack, by the stack's role.
STACK_SUPPRESSIONS: dict[str, list[NagPackSuppression]] = {
    "data": [
        NagPackSuppression(
            id="AwsSolutions-COG8",
            reason="Threat protection (the Plus plan) is billed per active user and enabled per account by its "
            "owner; the pool enforces a strong password policy and offers TOTP MFA.",
        ),
        NagPackSuppression(
            id="AwsSolutions-COG2",
            reason="MFA is optional (TOTP) so each tenant decides; dashboard users only reach their own tenant's jobs.",
        ),
        NagPackSuppression(
            id="AwsSolutions-S1",
            reason="The manifest bucket is written and read only by the platform's own roles; object-level audit "
            "belongs in CloudTrail data events, which an account enables once for all its buckets.",
        ),
    ],
    "orchestration": [],
    "api": [
        NagPackSuppression(
            id="AwsSolutions-APIG2",
            reason="The API is a Lambda proxy: every request is validated by the handler against the same pydantic "
            "models that generate its OpenAPI document, with error messages API Gateway's validator cannot give.",
        ),
        NagPackSuppression(
            id="AwsSolutions-APIG6",
            reason="Access logs are on for the stage; execution logs need an account-wide API Gateway CloudWatch "
            "role, which belongs to the account's baseline, not to this application.",
        ),
        NagPackSuppression(
            id="AwsSolutions-APIG3",
            reason="WAF is attached per account and region by the edge baseline; the stage throttles per client.",
        ),
        NagPackSuppression(
            id="AwsSolutions-APIG4",
            reason="Not yet authorized: every job belongs to the one default tenant until tenant credentials exist.",
        ),
        NagPackSuppression(
            id="AwsSolutions-COG4",
            reason="Not yet authorized: every job belongs to the one default tenant until tenant credentials exist.",
        ),
    ],
    "workers": [
        NagPackSuppression(
            id="AwsSolutions-EKS1",
            reason="The API endpoint is public and private so the CDK kubectl handler (outside the VPC) and operators "
            "reach it without a VPN; access still needs IAM authentication, eks_public_access_cidrs narrows it and "
            "eks_public_endpoint=false makes it private-only per environment.",
        ),
        NagPackSuppression(
            id="AwsSolutions-SF1",
            reason="The only state machine is the waiter of aws-cdk-lib's EKS cluster-resource provider framework; "
            "its props are not exposed, and its Lambda steps log to CloudWatch.",
        ),
        NagPackSuppression(
            id="AwsSolutions-SF2",
            reason="The only state machine is the waiter of aws-cdk-lib's EKS cluster-resource provider framework, "
            "which offers no X-Ray option; it only polls cluster creation.",
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM4",
            reason="AWS managed policies EKS requires for its cluster role, node role (worker node, CNI, ECR pull) "
            "and the CDK kubectl handler in the VPC; AWS keeps them in step with the service.",
            applies_to=[
                RegexAppliesTo(
                    regex="/^Policy::arn:<AWS::Partition>:iam::aws:policy/(AmazonEKSClusterPolicy|"
                    "AmazonEKSWorkerNodePolicy|AmazonEKS_CNI_Policy|AmazonEC2ContainerRegistry(ReadOnly|PullOnly)|"
                    "service-role/AWSLambdaVPCAccessExecutionRole)$/"
                ),
                RegexAppliesTo(regex='/^Policy::\\{"Fn::If":\\["\\w*HasEcrPublic/'),
            ],
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="Wildcards made by aws-cdk-lib's EKS module: its cluster-creation role's Describe/GetRole calls "
            "(no resource-level permissions), sub-resources of this one cluster, and the provider framework "
            "invoking versions of its own functions.",
            applies_to=[
                "Resource::*",
                RegexAppliesTo(
                    regex="/^Resource::arn:<AWS::Partition>:eks:<AWS::Region>:<AWS::AccountId>:"
                    "(cluster|fargateprofile)\\/[^/]+\\/\\*$/"
                ),
                RegexAppliesTo(regex="/^Resource::<[A-Za-z0-9]+\\.Arn>:\\*$/"),
            ],
        ),
        NagPackSuppression(
            id="AwsSolutions-L1",
            reason="The kubectl handler's runtime is pinned by aws-cdk-lib's EKS module (it must match the kubectl "
            "layer) and moves with CDK upgrades.",
        ),
    ],
}


def apply_nag(stack: Stack, role: str) -> None:
    NagSuppressions.add_stack_suppressions(stack, COMMON_SUPPRESSIONS + STACK_SUPPRESSIONS[role], apply_to_nested_stacks=True)


def enable_nag(app_scope: object) -> None:
    Aspects.of(app_scope).add(AwsSolutionsChecks(verbose=True))  # type: ignore[arg-type]
