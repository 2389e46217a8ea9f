"""People's sign-in on the embedded Cognito: SRP is offered, a password in clear is not.

The whole SRP exchange, as the dashboard makes it, runs in the browser test (web/e2e, `make test-browser`)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.e2e


def test_the_app_client_refuses_a_password_sent_in_clear(endpoints: dict[str, Any], aws: Any) -> None:
    user = endpoints["tenants"]["acme"]["user"]
    with pytest.raises(ClientError) as refused:
        aws("cognito-idp").initiate_auth(
            ClientId=endpoints["cognito"]["client_id"], AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


def test_the_app_client_offers_srp(endpoints: dict[str, Any], aws: Any) -> None:
    user = endpoints["tenants"]["acme"]["user"]
    started = aws("cognito-idp").initiate_auth(
        ClientId=endpoints["cognito"]["client_id"], AuthFlow="USER_SRP_AUTH",
        AuthParameters={"USERNAME": user["username"], "SRP_A": secrets.token_hex(384)},
    )
    assert started["ChallengeName"] == "PASSWORD_VERIFIER"
    assert {"SALT", "SRP_B", "SECRET_BLOCK", "USER_ID_FOR_SRP"} <= set(started["ChallengeParameters"])
