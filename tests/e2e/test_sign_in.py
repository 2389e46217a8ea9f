"""People's sign-in on the embedded Cognito: SRP is offered, a password in clear is not.

The whole SRP exchange, as the dashboard makes it, runs in the browser test (web/e2e, `make test-browser`)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_the_deployed_app_client_takes_no_password_in_clear(endpoints: dict[str, Any], aws: Any) -> None:
    # The embedded AWS enforces a client's auth flows only in its AUTH mode, which the local platform does not
    # run; AWS refuses USER_PASSWORD_AUTH for a client that does not list it, so the deployed list is the check.
    client = aws("cognito-idp").describe_user_pool_client(
        UserPoolId=endpoints["cognito"]["user_pool_id"], ClientId=endpoints["cognito"]["client_id"]
    )["UserPoolClient"]
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
    }


def test_the_app_client_offers_srp(endpoints: dict[str, Any], aws: Any) -> None:
    user = endpoints["tenants"]["acme"]["user"]
    started = aws("cognito-idp").initiate_auth(
        ClientId=endpoints["cognito"]["client_id"], AuthFlow="USER_SRP_AUTH",
        AuthParameters={"USERNAME": user["username"], "SRP_A": secrets.token_hex(384)},
    )
    assert started["ChallengeName"] == "PASSWORD_VERIFIER"
    assert {"SALT", "SRP_B", "SECRET_BLOCK", "USER_ID_FOR_SRP"} <= set(started["ChallengeParameters"])
