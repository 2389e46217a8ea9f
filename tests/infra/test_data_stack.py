"""The data stack: the job table, the idempotency table, the manifest bucket and the user pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp


def table(cdk_app: CdkApp) -> dict[str, Any]:
    return cdk_app.resource("data", cdk_app.data.store.table)["Properties"]  # type: ignore[no-any-return]


def bucket_id(cdk_app: CdkApp) -> str:
    return cdk_app.logical_id("data", cdk_app.data.store.manifests)


def test_table_key_schema_is_pk_sk_strings(cdk_app: CdkApp) -> None:
    props = table(cdk_app)
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["pk"] == "S" and types["sk"] == "S"


def test_table_is_on_demand_with_pitr_and_full_stream(cdk_app: CdkApp) -> None:
    props = table(cdk_app)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_table_has_by_tenant_index(cdk_app: CdkApp) -> None:
    props = table(cdk_app)
    indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {"by-tenant"}
    assert indexes["by-tenant"]["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert indexes["by-tenant"]["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["gsi1pk"] == "S" and types["gsi1sk"] == "S"


def test_bucket_blocks_public_access_and_encrypts(cdk_app: CdkApp) -> None:
    props = cdk_app.json("data")["Resources"][bucket_id(cdk_app)]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]


def test_bucket_policy_denies_insecure_transport(cdk_app: CdkApp) -> None:
    bucket = bucket_id(cdk_app)
    cdk_app.template("data").has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Resource": [
                                {"Fn::GetAtt": [bucket, "Arn"]},
                                {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]},
                            ],
                        }
                    ]
                )
            },
        },
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_manifests_payloads_and_uploads_expire_with_the_environments_data_retention(
    cdk_app: CdkApp, prod_app: CdkApp, env: str
) -> None:
    """Before, nothing ever deleted uploads/ or payloads/."""
    from stacks.constructs.job_store import UPLOAD_RETENTION_DAYS

    app = cdk_app if env == "dev" else prod_app
    props = app.json("data")["Resources"][bucket_id(app)]["Properties"]
    rules = {r["Prefix"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    days = app.config.data_retention_days
    assert {prefix: r["ExpirationInDays"] for prefix, r in rules.items()} == {
        "manifests/": days, "payloads/": days, "uploads/": UPLOAD_RETENTION_DAYS,
    }
    assert all(r["Status"] == "Enabled" for r in rules.values())
    assert all(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1 for r in rules.values())
    # An upload outlives the 25-hour window in which a replayed submission reads it again
    assert UPLOAD_RETENTION_DAYS * 24 > 25
    assert days == {"dev": 30, "prod": 90}[env]


def stateful(app: CdkApp) -> list[Any]:
    return [app.data.store.table, app.data.store.idempotency, app.data.store.manifests, app.data.identity.user_pool]


def test_dev_data_is_destroyed_with_the_stack(cdk_app: CdkApp) -> None:
    assert cdk_app.config.retain_data is False
    resources = cdk_app.json("data")["Resources"]
    for construct in stateful(cdk_app):
        logical_id = cdk_app.logical_id("data", construct)
        assert resources[logical_id]["DeletionPolicy"] == "Delete", logical_id


def test_prod_data_is_retained(prod_app: CdkApp) -> None:
    assert prod_app.config.retain_data is True
    resources = prod_app.json("data")["Resources"]
    for construct in stateful(prod_app):
        resource = resources[prod_app.logical_id("data", construct)]
        assert resource["DeletionPolicy"] == "Retain", construct.node.path
        assert resource["UpdateReplacePolicy"] == "Retain", construct.node.path


# --- the idempotency table ------------------------------------------------------------------------------------


def idempotency(cdk_app: CdkApp) -> dict[str, Any]:
    return cdk_app.resource("data", cdk_app.data.store.idempotency)["Properties"]  # type: ignore[no-any-return]


def test_idempotency_table_is_keyed_by_id_and_expires_by_ttl(cdk_app: CdkApp) -> None:
    props = idempotency(cdk_app)
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "GlobalSecondaryIndexes" not in props and "StreamSpecification" not in props
    assert cdk_app.logical_id("data", cdk_app.data.store.idempotency) != cdk_app.logical_id(
        "data", cdk_app.data.store.table
    )


def test_idempotency_table_matches_the_api_persistence_layer(
    cdk_app: CdkApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools writes its records with these attribute names: the table's key and TTL must be the same."""
    from aws_lambda_powertools.utilities import idempotency as powertools_idempotency
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from lambdas.api import idempotency as api_idempotency

    created: list[DynamoDBPersistenceLayer] = []

    class Recorded(DynamoDBPersistenceLayer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The API imports the persistence layer on first use, from Powertools' package.
    monkeypatch.setattr(powertools_idempotency, "DynamoDBPersistenceLayer", Recorded)
    api_idempotency._guarded.__wrapped__("idempotency")  # the uncached builder the API calls
    (persistence,) = created
    props = idempotency(cdk_app)
    assert props["KeySchema"] == [{"AttributeName": persistence.key_attr, "KeyType": "HASH"}]
    assert persistence.sort_key_attr is None
    assert props["TimeToLiveSpecification"]["AttributeName"] == persistence.expiry_attr


# --- the user pool --------------------------------------------------------------------------------------------


def user_pool(cdk_app: CdkApp) -> dict[str, Any]:
    return cdk_app.resource("data", cdk_app.data.identity.user_pool)["Properties"]  # type: ignore[no-any-return]


def test_one_user_pool_and_one_client(cdk_app: CdkApp) -> None:
    assert list(cdk_app.resources("data", "AWS::Cognito::UserPool")) == [
        cdk_app.logical_id("data", cdk_app.data.identity.user_pool)
    ]
    assert list(cdk_app.resources("data", "AWS::Cognito::UserPoolClient")) == [
        cdk_app.logical_id("data", cdk_app.data.identity.dashboard_client)
    ]


def test_user_pool_tenant_attribute_is_immutable(cdk_app: CdkApp) -> None:
    """custom:tenant is what the authorizer scopes a person to: set once by an administrator, never changed."""
    (tenant,) = [a for a in user_pool(cdk_app)["Schema"] if a["Name"] == "tenant"]
    assert tenant["AttributeDataType"] == "String"
    assert tenant["Mutable"] is False
    assert tenant["StringAttributeConstraints"] == {"MinLength": "1", "MaxLength": "63"}


def test_user_pool_allows_no_self_sign_up(cdk_app: CdkApp) -> None:
    assert user_pool(cdk_app)["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_user_pool_password_and_mfa_policy(cdk_app: CdkApp) -> None:
    props = user_pool(cdk_app)
    assert props["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "RequireUppercase": True,
    }
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_dashboard_client_signs_in_with_srp_and_never_takes_a_password_in_clear(cdk_app: CdkApp) -> None:
    client = cdk_app.resource("data", cdk_app.data.identity.dashboard_client)["Properties"]
    assert client["UserPoolId"] == {"Ref": cdk_app.logical_id("data", cdk_app.data.identity.user_pool)}
    # ADMIN_USER_PASSWORD_AUTH needs the account's IAM credentials (the platform's tooling and tests only).
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert client["GenerateSecret"] is False  # a browser cannot keep a secret
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    # No OAuth: no implicit grant, no placeholder callback URL.
    assert not client.get("AllowedOAuthFlowsUserPoolClient")
    assert "AllowedOAuthFlows" not in client and "CallbackURLs" not in client
    assert client["IdTokenValidity"] == 60 and client["TokenValidityUnits"]["IdToken"] == "minutes"
