"""API keys in a table of their own, under their SHA-256 digest.

Only the authorizers (read) and the key administration route (read/write) are granted this table, so code
that runs tasks can neither read a key record nor write one that would let it in as another tenant.
Items: digest (partition key), key_id, tenant, name, created_at, admin, revoked, revoked_at. The `by-tenant`
index (tenant, key_id) lists a tenant's keys and finds one by its id for revocation.
"""

from __future__ import annotations

from typing import Any

from tasklane.auth import ApiKeyRecord
from tasklane.aws.clients import client
from tasklane.aws.dynamo_items import av

BY_TENANT = "by-tenant"


def _record(item: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=item["key_id"]["S"], tenant=item["tenant"]["S"], name=item["name"]["S"],
        created_at=item["created_at"]["S"], revoked=item.get("revoked", {}).get("BOOL", False),
        admin=item.get("admin", {}).get("BOOL", False), revoked_at=item.get("revoked_at", {}).get("S"),
    )


class DynamoApiKeyStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table = table_name
        self._ddb = dynamodb or client("dynamodb")

    def put_key(self, digest: str, record: ApiKeyRecord) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item={
                "digest": {"S": digest},
                "key_id": {"S": record.key_id},
                "tenant": {"S": record.tenant},
                "name": {"S": record.name},
                "created_at": {"S": record.created_at},
                "revoked": {"BOOL": record.revoked},
                "admin": {"BOOL": record.admin},
            },
            ConditionExpression="attribute_not_exists(digest)",
        )

    def find_key(self, digest: str) -> ApiKeyRecord | None:
        # Strongly consistent: a key revoked a moment ago is refused at the authorizer's next decision.
        item = self._ddb.get_item(TableName=self.table, Key={"digest": {"S": digest}}, ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def _tenant_items(self, tenant: str, key_id: str | None = None) -> list[dict[str, Any]]:
        condition, values = "tenant = :tenant", {":tenant": av(tenant)}
        if key_id is not None:
            condition, values[":key_id"] = condition + " AND key_id = :key_id", av(key_id)
        query: dict[str, Any] = {
            "TableName": self.table, "IndexName": BY_TENANT, "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**query)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_keys(self, tenant: str) -> list[ApiKeyRecord]:
        return sorted((_record(i) for i in self._tenant_items(tenant)), key=lambda r: (r.created_at, r.key_id))

    def revoke_key(self, tenant: str, key_id: str, revoked_at: str) -> ApiKeyRecord | None:
        items = self._tenant_items(tenant, key_id)
        if not items:
            return None
        response = self._ddb.update_item(
            TableName=self.table,
            Key={"digest": items[0]["digest"]},
            # The first revocation's time stays: revoking again changes nothing.
            UpdateExpression="SET revoked = :yes, revoked_at = if_not_exists(revoked_at, :at)",
            ConditionExpression="attribute_exists(digest)",
            ExpressionAttributeValues={":yes": {"BOOL": True}, ":at": {"S": revoked_at}},
            ReturnValues="ALL_NEW",
        )
        return _record(response["Attributes"])
