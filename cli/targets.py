"""Which API jobctl talks to, and with which credentials.

Three ways, in this order of precedence:
- `--api-url URL` with `--api-key` (or a Cognito ID token with `--token`);
- `--stack PREFIX` (with `--profile`, `--region`): the `ApiUrl` output of the deployed `<PREFIX>-api` stack;
- by default the local platform: `.local/endpoints.json` (or `--endpoints FILE`), whose `tenants` map holds
  each tenant's request headers; `--tenant NAME` picks one, else the first tenant in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.client import LOCAL_ENDPOINTS

API_STACK_SUFFIX = "-api"
API_URL_OUTPUT = "ApiUrl"


class CliError(Exception):
    """A problem jobctl reports in one line on stderr before exiting with code 3."""


@dataclass(frozen=True)
class TargetOptions:
    endpoints: Path | None = None
    tenant: str | None = None
    stack: str | None = None
    profile: str | None = None
    region: str | None = None
    api_url: str | None = None
    api_key: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Target:
    api_url: str
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""


def resolve_target(options: TargetOptions) -> Target:
    if options.api_url and options.stack:
        raise CliError("--api-url and --stack name two different APIs: pass only one")
    if options.api_url:
        return Target(options.api_url, remote_headers(options, options.api_url), options.api_url)
    if options.stack:
        headers = remote_headers(options, f"stack {options.stack}")
        return Target(stack_api_url(options.stack, options.profile, options.region), headers, f"stack {options.stack}")
    return local_target(options.endpoints or LOCAL_ENDPOINTS, options.tenant, credential_headers(options))


def credential_headers(options: TargetOptions) -> dict[str, str]:
    if options.api_key and options.token:
        raise CliError("--api-key and --token are two different credentials: pass only one")
    if options.api_key:
        return {"Authorization": f"ApiKey {options.api_key}"}
    if options.token:
        return {"Authorization": f"Bearer {options.token}"}
    return {}


def remote_headers(options: TargetOptions, where: str) -> dict[str, str]:
    headers = credential_headers(options)
    if not headers:
        raise CliError(f"no credentials for {where}: pass --api-key (or set TASKLANE_API_KEY) or --token")
    return headers


def local_target(path: Path, tenant: str | None, override: dict[str, str]) -> Target:
    endpoints = read_endpoints(path)
    api_url = endpoints.get("api_url")
    if not isinstance(api_url, str) or not api_url:
        raise CliError(f"{path} has no api_url: run `make up` again")
    tenants: dict[str, Any] = endpoints.get("tenants") or {}
    if tenant is not None and tenant not in tenants:
        known = ", ".join(tenants) or "none"
        raise CliError(f"no tenant {tenant!r} in {path} (tenants: {known})")
    name = tenant if tenant is not None else next(iter(tenants), None)
    headers = {str(k): str(v) for k, v in (tenants.get(name) or {}).get("headers", {}).items()} if name else {}
    if override:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"} | override
    description = f"local platform, tenant {name}" if name else "local platform"
    return Target(api_url, headers, description)


def read_endpoints(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CliError(f"{path} is missing: start the local platform with `make up`, or pass --api-url or --stack")
    try:
        endpoints = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read {path}: {error}") from error
    if not isinstance(endpoints, dict):
        raise CliError(f"{path} is not a JSON object")
    return endpoints


def stack_api_url(prefix: str, profile: str | None, region: str | None) -> str:
    """The API's URL from the CloudFormation outputs of the deployed `<prefix>-api` stack."""
    import boto3  # imported here: only this target needs it, and it is slow to import
    from botocore.exceptions import BotoCoreError, ClientError

    stack = prefix + API_STACK_SUFFIX
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as error:
        raise CliError(f"cannot read the outputs of stack {stack}: {error}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    if API_URL_OUTPUT not in outputs:
        raise CliError(f"stack {stack} has no {API_URL_OUTPUT} output: is it deployed completely?")
    return str(outputs[API_URL_OUTPUT])
