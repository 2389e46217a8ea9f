"""The whole platform as one CDK app: an environment's stacks, split by lifecycle, and the account's own."""

from __future__ import annotations

import os

from aws_cdk import App, Environment, Tags

from stacks.account_stack import AccountStack
from stacks.api_stack import ApiStack
from stacks.config import PROJECT, EnvironmentConfig, load_config
from stacks.dashboard_stack import DashboardStack
from stacks.data_stack import DataStack
from stacks.edge_stack import EDGE_REGION, EdgeStack
from stacks.github_deploy_stack import GitHubDeployStack
from stacks.live_stack import LiveStack
from stacks.nag import enable_nag
from stacks.orchestration_stack import OrchestrationStack
from stacks.workers_stack import WorkersStack


def build_app(app: App) -> dict[str, object]:
    config: EnvironmentConfig = load_config(app.node)
    env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    prefix = config.resource_prefix()
    account = AccountStack(app, env=env)
    data = DataStack(app, f"{prefix}-data", config=config, env=env)
    orchestration = OrchestrationStack(
        app, f"{prefix}-orchestration", config=config, table=data.store.table,
        idempotency_table=data.store.idempotency, manifests=data.store.manifests, env=env,
    )
    alarms = orchestration.alarms
    live = LiveStack(
        app, f"{prefix}-live", config=config, store=data.store, identity=data.identity, alarms=alarms, env=env
    )
    # Revoking a key closes its live connections, so the API knows the WebSocket API.
    api = ApiStack(
        app, f"{prefix}-api", config=config, store=data.store, identity=data.identity,
        state_machine=orchestration.workflow.state_machine, live=live.live, alarms=alarms, env=env,
    )
    # Both turn on API Gateway access logging, which API Gateway refuses until the account's role is set.
    for logging_stack in (api, live):
        logging_stack.add_stack_dependency(account, "API Gateway access logging needs the account's CloudWatch role")
    # Deployed to AWS only: the local platform serves web/dist itself (the embedded AWS has no CloudFront edge).
    # The distribution's web ACL must live in us-east-1, so it has a stack of its own there.
    edge = EdgeStack(app, f"{prefix}-edge", config=config, env=Environment(account=env.account, region=EDGE_REGION))
    dashboard = DashboardStack(
        app, f"{prefix}-dashboard", config=config, api=api.api, live=live.live, identity=data.identity,
        web_acl_parameter=edge.parameter.parameter_name, env=env,
    )
    dashboard.add_stack_dependency(edge)
    # Synthesized and tested everywhere; deployed only to AWS (the local platform runs workers as processes).
    workers = WorkersStack(
        app, f"{prefix}-workers", config=config, long_queue=orchestration.queues.long,
        short_queue=orchestration.queues.short, table=data.store.table,
        manifest_bucket=data.store.manifests, workflow=orchestration.workflow, alarms=alarms, env=env,
    )
    stacks: dict[str, object] = {
        "data": data, "orchestration": orchestration, "api": api, "live": live, "edge": edge, "dashboard": dashboard,
        "workers": workers,
    }
    for stack in stacks.values():
        Tags.of(stack).add("environment", config.name)  # type: ignore[arg-type]
    # Shared by every environment, these carry no environment's tag.
    stacks["account"] = account
    if repository := app.node.try_get_context("github_repository"):
        stacks["github"] = GitHubDeployStack(
            app, repository=repository, environments=sorted(app.node.try_get_context("environments") or {}),
            provider_arn=app.node.try_get_context("github_oidc_provider_arn"), env=env,
        )
    Tags.of(app).add("project", PROJECT)
    enable_nag(app)
    return stacks
