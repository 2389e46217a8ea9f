"""API keys in the job table, under their SHA-256 digest."""

from __future__ import annotations

from typing import Any

from tasklane.auth import ApiKeyRecord
from tasklane.aws.clients import client


def key_item_key(digest: str) -> dict[str, Any]:
    return {"pk": {"S": f"APIKEY#{digest}"}, "sk": {"S": "APIKEY"}}


class DynamoApiKeyStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table = table_name
        self._ddb = dynamodb or client("dynamodb")

    def put_key(self, digest: str, record: ApiKeyRecord) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item={
                **key_item_key(digest),
                "key_id": {"S": record.key_id},
                "tenant": {"S": record.tenant},
                "name": {"S": record.name},
                "created_at": {"S": record.created_at},
                "revoked": {"BOOL": record.revoked},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def find_key(self, digest: str) -> ApiKeyRecord | None:
        item = self._ddb.get_item(TableName=self.table, Key=key_item_key(digest)).get("Item")
        if not item:
            return None
        return ApiKeyRecord(
            key_id=item["key_id"]["S"], tenant=item["tenant"]["S"], name=item["name"]["S"],
            created_at=item["created_at"]["S"], revoked=item.get("revoked", {}).get("BOOL", False),
        )
