"""The TOKEN authorizer: an Allow policy for the whole stage with the tenant in its context, or a 401."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeVerifier
from lambda_events import FakeLambdaContext, authorizer_event

from lambdas.authorizer import handler as authorizer
from tasklane.auth import issue_api_key, revoke_api_key
from tasklane.aws.api_keys import DynamoApiKeyStore
from tasklane.aws.cognito_tokens import CognitoTokenVerifier
from tasklane.settings import AuthorizerSettings

REAL_VERIFIERS = authorizer.verifiers
STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"


@pytest.fixture
def keys(keys_table: str, ddb: Any) -> DynamoApiKeyStore:
    return DynamoApiKeyStore(keys_table, ddb)


@pytest.fixture
def tokens() -> FakeVerifier:
    return FakeVerifier({"sub": "u-7", "custom:tenant": "globex"}, token="id-token")


@pytest.fixture(autouse=True)
def wired(monkeypatch: pytest.MonkeyPatch, keys: DynamoApiKeyStore, tokens: FakeVerifier) -> None:
    monkeypatch.setattr(authorizer, "verifiers", lambda: (keys, tokens))
    monkeypatch.setattr(authorizer, "usage_key_prefix", lambda: "tasklane-test")


def authorize(token: str | None) -> dict[str, Any]:
    return authorizer.lambda_handler(authorizer_event(token), FakeLambdaContext())  # type: ignore[no-any-return]


def test_an_api_key_is_allowed_with_its_tenant_in_the_context(keys: DynamoApiKeyStore) -> None:
    record, secret = issue_api_key("acme", "ci", keys)

    response = authorize(f"ApiKey {secret}")

    assert response["principalId"] == f"key:{record.key_id}"
    assert response["context"] == {
        "tenant": "acme", "subject": f"key:{record.key_id}", "method": "api_key", "admin": "false"
    }
    statements = response["policyDocument"]["Statement"]
    assert [s["Effect"] for s in statements] == ["Allow"]
    # one decision for every route of the stage, so API Gateway can cache it per credential
    assert statements[0]["Resource"] == [STAGE_ARN]
    assert statements[0]["Action"] == "execute-api:Invoke"


def test_a_bearer_token_is_allowed_as_its_tenant(tokens: FakeVerifier) -> None:
    response = authorize("Bearer id-token")
    assert response["principalId"] == "user:u-7"
    assert response["context"]["tenant"] == "globex"
    assert tokens.seen == ["id-token"]


@pytest.mark.parametrize(
    "token", [None, "", "ApiKey tlk_unknown", "Bearer forged", "Basic dXNlcjpwYXNz", "ApiKey", "garbage"]
)
def test_bad_credentials_raise_exactly_unauthorized(token: str | None) -> None:
    # API Gateway answers 401 only for this exact message; anything else would be a 500 or a 403
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        authorize(token)
    assert type(raised.value) is Exception


def test_a_revoked_key_is_unauthorized(keys: DynamoApiKeyStore) -> None:
    record, secret = issue_api_key("acme", "ci", keys)
    authorize(f"ApiKey {secret}")
    revoke_api_key("acme", record.key_id, keys)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(f"ApiKey {secret}")


def test_verifiers_come_from_the_authorizers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorizer, "verifiers", REAL_VERIFIERS)  # built from the environment
    monkeypatch.setenv("KEYS_TABLE_NAME", "keys")
    monkeypatch.setenv("TABLE_NAME", "jobs")  # the job table is not the authorizer's to read
    monkeypatch.setenv("USER_POOL_ID", "us-east-1_Pool")
    monkeypatch.setenv("USER_POOL_CLIENT_IDS", " web , cli ,")
    REAL_VERIFIERS.reset()
    try:
        keys, tokens = authorizer.verifiers()
    finally:
        REAL_VERIFIERS.reset()
    assert isinstance(keys, DynamoApiKeyStore) and keys.table == "keys"
    assert isinstance(tokens, CognitoTokenVerifier)
    assert tokens.issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
    assert tokens.client_ids == {"web", "cli"}


def test_behind_an_emulator_the_keys_are_fetched_from_its_endpoint() -> None:
    settings = AuthorizerSettings(keys_table_name="t", user_pool_id="p1", user_pool_client_ids="c",
                                  aws_region="eu-west-1", aws_endpoint_url="http://localhost:4566/")
    assert settings.jwks_url == "http://localhost:4566/p1/.well-known/jwks.json"
    assert settings.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/p1"
    real = AuthorizerSettings(keys_table_name="t", user_pool_id="p1", user_pool_client_ids="c", aws_region="eu-west-1")
    assert real.jwks_url == "https://cognito-idp.eu-west-1.amazonaws.com/p1/.well-known/jwks.json"


def test_the_usage_identifier_is_the_callers_tenants_usage_key(keys: DynamoApiKeyStore) -> None:
    _, secret = issue_api_key("acme", "ci", keys)
    assert authorize(f"ApiKey {secret}")["usageIdentifierKey"] == "tasklane-test-tenant-acme"
    # a person of another tenant is limited by that tenant's plan
    assert authorize("Bearer id-token")["usageIdentifierKey"] == "tasklane-test-tenant-globex"


def test_without_a_prefix_no_usage_identifier_is_named(
    monkeypatch: pytest.MonkeyPatch, keys: DynamoApiKeyStore
) -> None:
    monkeypatch.setattr(authorizer, "usage_key_prefix", lambda: None)
    _, secret = issue_api_key("acme", "ci", keys)
    assert "usageIdentifierKey" not in authorize(f"ApiKey {secret}")
