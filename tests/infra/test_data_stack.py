"""The data stack: the job table and the manifest bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def test_dev_data_is_destroyed_with_the_stack(cdk_app: CdkApp) -> None:
    assert cdk_app.config.retain_data is False
    resources = cdk_app.json("data")["Resources"]
    for logical_id in (cdk_app.logical_id("data", cdk_app.data.store.table), bucket_id(cdk_app)):
        assert resources[logical_id]["DeletionPolicy"] == "Delete", logical_id


def test_prod_data_is_retained(prod_app: CdkApp) -> None:
    assert prod_app.config.retain_data is True
    resources = prod_app.json("data")["Resources"]
    store = prod_app.data.store
    for construct in (store.table, store.manifests):
        resource = resources[prod_app.logical_id("data", construct)]
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
