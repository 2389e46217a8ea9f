"""The verifiers of tenant credentials, built once per process; shared by the REST and WebSocket authorizers."""

from __future__ import annotations

from tasklane.aws.api_keys import DynamoApiKeyStore
from tasklane.aws.cognito_tokens import CognitoTokenVerifier
from tasklane.provided import provided
from tasklane.settings import AuthorizerSettings


@provided
def usage_key_prefix() -> str | None:
    """Set for the REST API's authorizer, whose usage plans limit each tenant; None for the WebSocket one."""
    return AuthorizerSettings().usage_key_prefix


@provided
def verifiers() -> tuple[DynamoApiKeyStore, CognitoTokenVerifier]:
    settings = AuthorizerSettings()
    return (
        DynamoApiKeyStore(settings.keys_table_name),
        CognitoTokenVerifier(settings.issuer, settings.client_ids, settings.jwks_url),
    )
