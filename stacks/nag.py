"""cdk-nag (AwsSolutions pack) over every stack; every suppression and its reason live here."""

from __future__ import annotations

from aws_cdk import Aspects, Stack
from aws_cdk import aws_apigateway as apigw
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo

from stacks.constructs.job_api import PUBLIC_ROUTES

# Findings accepted for every stack of the platform.
COMMON_SUPPRESSIONS = [
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        reason="Lambda functions use AWSLambdaBasicExecutionRole, AWS's managed policy limited to writing their "
        "own logs.",
        applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason="Wildcards are the ones CDK grant_* methods generate (index ARNs, object keys under one bucket or "
        "one of its prefixes, versions of the workflow's own step functions, log delivery, X-Ray); every resource "
        "in them belongs to the platform.",
    ),
    NagPackSuppression(
        id="AwsSolutions-L1",
        reason="Functions run Python 3.13, supported by AWS until 2029; the layer is built for it and the "
        "emulator's 3.11.",
    ),
]

# Findings specific to one stack, by the stack's role.
STACK_SUPPRESSIONS: dict[str, list[NagPackSuppression]] = {
    "account": [
        NagPackSuppression(
            id="AwsSolutions-IAM4",
            reason="The account's API Gateway CloudWatch role, needed for the stages' access logs, uses "
            "AmazonAPIGatewayPushToCloudWatchLogs, the managed policy AWS documents for it.",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
            ],
        ),
    ],
    "github": [
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="The GitHub deploy role may assume only the CDK bootstrap roles of its account "
            "(cdk-hnb659fds-*: deploy, file and image publishing, lookup), whose names end in the account and "
            "region; they do the deploying, with the permissions `cdk bootstrap` gave them.",
            applies_to=[RegexAppliesTo(regex="/^Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-hnb659fds-\\*$/")],
        ),
    ],
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
    "edge": [],
    "api": [
        NagPackSuppression(
            id="AwsSolutions-APIG2",
            reason="The API is a Lambda proxy: every request is validated by the handler against the same pydantic "
            "models that generate its OpenAPI document, with error messages API Gateway's validator cannot give.",
        ),
        NagPackSuppression(
            id="AwsSolutions-APIG6",
            reason="Access logs record every request of the stage; execution logs stay off: API Gateway writes them "
            "to a log group it creates itself (API-Gateway-Execution-Logs_<api id>/v1), outside this stack's "
            "retention and removal settings, and the access logs plus the function's own logs cover each failure.",
        ),
        NagPackSuppression(
            id="AwsSolutions-COG4",
            reason="Every route but the public ones sits behind a Lambda TOKEN authorizer rather than a Cognito "
            "authorizer: callers are machines with API keys as well as people with Cognito ID tokens, and a Cognito "
            "authorizer accepts only the tokens of its pools; the authorizer verifies an ID token's signature, issuer "
            "and audience against the user pool and passes its custom:tenant on to the API.",
        ),
    ],
    "live": [
        NagPackSuppression(
            id="AwsSolutions-APIG4",
            reason="A WebSocket API authorizes only its $connect route (API Gateway allows no authorizer on the "
            "others): $connect runs the tenant authorizer, and $default and $disconnect act only for connections "
            "it admitted, under the tenant it recorded for them (tests/infra asserts $connect's authorizer).",
        ),
    ],
    "dashboard": [
        NagPackSuppression(
            id="AwsSolutions-CFR1",
            reason="The dashboard is a static page for each tenant's people wherever they are; what it shows is "
            "behind sign-in, so there is no country to exclude.",
        ),
        NagPackSuppression(
            id="AwsSolutions-CFR4",
            reason="On its cloudfront.net name the distribution has CloudFront's default certificate, whose security "
            "policy CloudFront fixes (a minimum TLS version needs a certificate of one's own domain); viewers are "
            "redirected to HTTPS and HSTS is sent.",
        ),
        NagPackSuppression(
            id="AwsSolutions-L1",
            reason="The BucketDeployment handler's runtime is pinned by aws-cdk-lib (it must match its AWS CLI "
            "layer) and moves with CDK upgrades.",
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM4",
            reason="aws-cdk-lib's BucketDeployment, auto-delete and AwsCustomResource (the read of the dashboard's web "
            "ACL ARN from us-east-1) handlers use AWSLambdaBasicExecutionRole, AWS's managed policy limited to writing "
            "their own logs.",
            applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
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
            "and the CDK kubectl handler in the VPC, and the one AWS documents for the CloudWatch Observability "
            "add-on's agent (CloudWatchAgentServerPolicy); AWS keeps them in step with the services.",
            applies_to=[
                RegexAppliesTo(
                    regex="/^Policy::arn:<AWS::Partition>:iam::aws:policy/(AmazonEKSClusterPolicy|"
                    "AmazonEKSWorkerNodePolicy|AmazonEKS_CNI_Policy|AmazonEC2ContainerRegistry(ReadOnly|PullOnly)|"
                    "service-role/AWSLambdaVPCAccessExecutionRole|CloudWatchAgentServerPolicy)$/"
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


# Findings accepted only in the embedded AWS's deployment (EnvironmentConfig.emulator), by stack role.
EMULATOR_SUPPRESSIONS: dict[str, list[NagPackSuppression]] = {
    "api": [
        NagPackSuppression(
            id="AwsSolutions-APIG3",
            reason="The embedded AWS cannot associate a WAF web ACL (no AWS::WAFv2::WebACLAssociation), so the "
            "local deployment leaves the association out; every deployment to AWS associates the stage with the "
            "API's rate-limiting web ACL.",
        ),
    ],
}

# Findings accepted on single resources: the API's public methods, found by path, and no other method.
PUBLIC_METHOD_SUPPRESSIONS = [
    NagPackSuppression(
        id="AwsSolutions-APIG4",
        reason="Public on purpose: GET /health (health checks), /openapi.json and /docs (the API's description) "
        "return no tenant data; every other method, the root's and {proxy+}'s ANY, needs the tenant authorizer.",
    ),
]


def public_api_methods(stack: Stack) -> list[apigw.Method]:
    """The GET methods of JobApi's PUBLIC_ROUTES in `stack`, the only methods allowed without authorization."""
    paths = {f"/{route}" for route in PUBLIC_ROUTES}
    return [
        c
        for c in stack.node.find_all()
        if isinstance(c, apigw.Method) and c.http_method == "GET" and c.resource.path in paths
    ]


# Stacks of the account rather than of the platform's functions: only their own suppressions apply.
ACCOUNT_ROLES = ("account", "github")


def apply_nag(stack: Stack, role: str, *, emulator: bool = False) -> None:
    common = [] if role in ACCOUNT_ROLES else COMMON_SUPPRESSIONS
    local = EMULATOR_SUPPRESSIONS.get(role, []) if emulator else []
    NagSuppressions.add_stack_suppressions(
        stack, common + STACK_SUPPRESSIONS[role] + local, apply_to_nested_stacks=True
    )
    if role == "api":
        for method in public_api_methods(stack):
            NagSuppressions.add_resource_suppressions(method, PUBLIC_METHOD_SUPPRESSIONS, apply_to_children=True)


def enable_nag(app_scope: object) -> None:
    Aspects.of(app_scope).add(AwsSolutionsChecks(verbose=True))  # type: ignore[arg-type]
