"""The GitHub Actions deploy role, as its own stack: `make github-role GITHUB_REPOSITORY=owner/name`."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import PROJECT
from stacks.constructs.github_deploy_role import GitHubDeployRole
from stacks.nag import apply_nag

GITHUB_DEPLOY_STACK_NAME = f"{PROJECT}-github-deploy"


class GitHubDeployStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str = GITHUB_DEPLOY_STACK_NAME,
        *,
        repository: str,
        environments: list[str],
        provider_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.deploy = GitHubDeployRole(
            self, "GitHub", repository=repository, environments=environments, provider_arn=provider_arn
        )
        # Goes into the repository's variables as AWS_DEPLOY_ROLE_ARN (docs/OPERATIONS.md).
        CfnOutput(self, "DeployRoleArn", value=self.deploy.role.role_arn)
        apply_nag(self, "github")
