"""The local platform's tenants: an API key (machines) and a Cognito user (people) for each, and an
operator's admin key for the key administration routes.

Issued once per deployment into the embedded AWS and recorded in .local/endpoints.json, so a client
knows the exact headers to send as each tenant (and as the operator, under "admin").
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import boto3

from scripts.issue_admin_key import OPERATOR_TENANT
from tasklane.auth import issue_api_key
from tasklane.aws.api_keys import DynamoApiKeyStore
from tasklane.aws.usage_plans import ApiGatewayUsagePlans

LOCAL_TENANTS = ("acme", "globex")


def local_password() -> str:
    # Meets the pool's policy: upper, lower, digit, symbol, 12+ characters.
    return "Tl-" + secrets.token_urlsafe(12) + "a1A!"


def issue_local_tenants(endpoints: dict[str, Any], region: str) -> dict[str, Any]:
    cognito = boto3.client("cognito-idp", endpoint_url=endpoints["aws_endpoint_url"], region_name=region)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoints["aws_endpoint_url"], region_name=region)
    keys = DynamoApiKeyStore(endpoints["keys_table_name"], dynamodb)
    apigateway = boto3.client("apigateway", endpoint_url=endpoints["aws_endpoint_url"], region_name=region)
    usage = ApiGatewayUsagePlans(endpoints["usage_key_prefix"], apigateway)
    tenants: dict[str, Any] = {}
    for tenant in LOCAL_TENANTS:
        usage.enroll(tenant)  # as the key administration route does
        _, secret = issue_api_key(tenant, f"{tenant} local key", keys)
        username, password = f"{tenant}-operator", local_password()
        # An emulator that outlived its deployment record already has the user: only its password is new.
        with contextlib.suppress(cognito.exceptions.UsernameExistsException):
            cognito.admin_create_user(
                UserPoolId=endpoints["user_pool_id"],
                Username=username,
                UserAttributes=[
                    {"Name": "custom:tenant", "Value": tenant},
                    {"Name": "email", "Value": f"{username}@example.com"},
                    {"Name": "email_verified", "Value": "true"},
                ],
                MessageAction="SUPPRESS",
            )
        cognito.admin_set_user_password(
            UserPoolId=endpoints["user_pool_id"], Username=username, Password=password, Permanent=True
        )
        tenants[tenant] = {
            "headers": {"Authorization": f"ApiKey {secret}"},
            "user": {"username": username, "password": password},
        }
    # Last, so that code taking the first tenant takes a tenant's key, not the operator's.
    _, admin_secret = issue_api_key(OPERATOR_TENANT, "local operator", keys, admin=True)
    tenants[OPERATOR_TENANT] = {"headers": {"Authorization": f"ApiKey {admin_secret}"}, "admin": True}
    return tenants


def id_token(endpoints: dict[str, Any], username: str, password: str, region: str = "us-east-1") -> str:
    """A dashboard user's ID token, as the page gets it with SRP; taken here with the platform's own AWS
    credentials (ADMIN_USER_PASSWORD_AUTH), since the app client offers no password flow without them. Those
    of the embedded AWS are its fixed test credentials."""
    cognito = boto3.client(
        "cognito-idp", endpoint_url=endpoints["aws_endpoint_url"], region_name=region,
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    result = cognito.admin_initiate_auth(
        UserPoolId=endpoints["cognito"]["user_pool_id"],
        ClientId=endpoints["cognito"]["client_id"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])
