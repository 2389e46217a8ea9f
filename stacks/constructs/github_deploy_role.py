"""The role GitHub Actions deploys with: OpenID Connect federation, no stored keys.

Only the repository's jobs that run in one of the named GitHub environments may assume it, and it may only
assume the CDK bootstrap roles of this account (which do the deploying) and read the bootstrap version.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_ISSUER = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
# The default bootstrap qualifier of `cdk bootstrap`.
BOOTSTRAP_QUALIFIER = "hnb659fds"


class GitHubDeployRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        environments: Sequence[str],
        provider_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise ValueError(f"github repository must be owner/name, not {repository!r}")
        # One provider per account: reuse the ARN of one that exists, or create it.
        self.provider: iam.IOidcProvider = (
            iam.OidcProviderNative.from_oidc_provider_arn(self, "Provider", provider_arn)
            if provider_arn
            else iam.OidcProviderNative(self, "Provider", url=GITHUB_OIDC_URL, client_ids=[STS_AUDIENCE])
        )
        subjects = [f"repo:{repository}:environment:{name}" for name in environments]
        self.role = iam.Role(
            self,
            "Role",
            description=f"GitHub Actions of {repository} deploy Tasklane ({', '.join(environments)})",
            assumed_by=iam.WebIdentityPrincipal(
                self.provider.oidc_provider_arn,
                conditions={
                    "StringEquals": {f"{GITHUB_OIDC_ISSUER}:aud": STS_AUDIENCE},
                    "StringLike": {f"{GITHUB_OIDC_ISSUER}:sub": subjects},
                },
            ),
            max_session_duration=Duration.hours(2),
        )
        stack = Stack.of(self)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[f"arn:{stack.partition}:iam::{stack.account}:role/cdk-{BOOTSTRAP_QUALIFIER}-*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    stack.format_arn(
                        service="ssm", resource="parameter",
                        resource_name=f"cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version",
                    )
                ],
            )
        )
