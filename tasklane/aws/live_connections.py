"""WebSocket connections, their subscriptions and each job's push sequence, in the connections table.

Items, all expired by DynamoDB TTL on `expires_at`:
  (CONN#<connection id>, CONN)              tenant, subject, subs (the job ids or "*" it subscribed to)
  (TENANT#<tenant>, CONN#<connection id>)   subject: a tenant's open connections, one Query (cap, revocation)
  (TENANT#<tenant>, SUB#<job id|*>#<conn>)  one subscription; a tenant's are one Query for the publisher
  (JOB#<job id>, SEQ)                       seq (the job's last push) and the digest of the view it carried
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from tasklane.aws.clients import client
from tasklane.live import Connection, SequenceState

BATCH_GET = 100
BATCH_WRITE = 25


def connection_key(connection_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CONN#{connection_id}"}, "sk": {"S": "CONN"}}


def subscription_key(tenant: str, job_id: str, connection_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant}"}, "sk": {"S": f"SUB#{job_id}#{connection_id}"}}


def tenant_connection_key(tenant: str, connection_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant}"}, "sk": {"S": f"CONN#{connection_id}"}}


def sequence_key(job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "SEQ"}}


class DynamoConnectionStore:
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table = table_name
        self._ddb = dynamodb or client("dynamodb")

    def add_connection(self, connection: Connection, expires_at: int) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item={
                **connection_key(connection.connection_id),
                "connection_id": {"S": connection.connection_id},
                "tenant": {"S": connection.tenant},
                "subject": {"S": connection.subject},
                "expires_at": {"N": str(expires_at)},
            },
        )
        self._ddb.put_item(
            TableName=self.table,
            Item={
                **tenant_connection_key(connection.tenant, connection.connection_id),
                "connection_id": {"S": connection.connection_id},
                "subject": {"S": connection.subject},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def connection(self, connection_id: str) -> Connection | None:
        item = self._ddb.get_item(TableName=self.table, Key=connection_key(connection_id), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        return Connection(connection_id, item["tenant"]["S"], item["subject"]["S"])

    def remove_connection(self, connection_id: str) -> None:
        item = self._ddb.get_item(TableName=self.table, Key=connection_key(connection_id), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return
        tenant = item["tenant"]["S"]
        keys = [subscription_key(tenant, job_id, connection_id) for job_id in item.get("subs", {}).get("SS", [])]
        keys += [tenant_connection_key(tenant, connection_id), connection_key(connection_id)]
        for start in range(0, len(keys), BATCH_WRITE):
            self._write_all([{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE]])

    def subscribe(self, connection: Connection, job_id: str, expires_at: int, limit: int) -> bool:
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=connection_key(connection.connection_id),
                UpdateExpression="ADD subs :job",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(subs) OR size(subs) < :limit OR contains(subs, :id))",
                ExpressionAttributeValues={
                    ":job": {"SS": [job_id]}, ":id": {"S": job_id}, ":limit": {"N": str(limit)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        self._ddb.put_item(
            TableName=self.table,
            Item={
                **subscription_key(connection.tenant, job_id, connection.connection_id),
                "job_id": {"S": job_id},
                "connection_id": {"S": connection.connection_id},
                "expires_at": {"N": str(expires_at)},
            },
        )
        return True

    def unsubscribe(self, connection: Connection, job_id: str) -> None:
        key = subscription_key(connection.tenant, job_id, connection.connection_id)
        self._ddb.delete_item(TableName=self.table, Key=key)
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=connection_key(connection.connection_id),
                UpdateExpression="DELETE subs :job",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":job": {"SS": [job_id]}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def subscribers(self, tenant: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for item in self._tenant_items(tenant, "SUB#", "job_id, connection_id, expires_at"):
            found.setdefault(item["job_id"]["S"], set()).add(item["connection_id"]["S"])
        return found

    def tenant_connections(self, tenant: str) -> list[Connection]:
        return [
            Connection(item["connection_id"]["S"], tenant, item["subject"]["S"])
            for item in self._tenant_items(tenant, "CONN#", "connection_id, subject, expires_at")
        ]

    def _tenant_items(self, tenant: str, prefix: str, projection: str) -> list[dict[str, Any]]:
        """The tenant's unexpired items whose sort key starts with `prefix`."""
        found: list[dict[str, Any]] = []
        now = int(time.time())
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"TENANT#{tenant}"}, ":prefix": {"S": prefix}},
            "ProjectionExpression": projection,
        }
        while True:
            page = self._ddb.query(**query)
            # TTL deletes within days, not at once: an expired item is already gone.
            found += [item for item in page.get("Items", []) if int(item["expires_at"]["N"]) > now]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def advance(self, job_id: str, digest: str, expires_at: int) -> int:
        response = self._ddb.update_item(
            TableName=self.table,
            Key=sequence_key(job_id),
            UpdateExpression="ADD seq :one SET digest = :digest, expires_at = :expires",
            ExpressionAttributeValues={
                ":one": {"N": "1"}, ":digest": {"S": digest}, ":expires": {"N": str(expires_at)},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["seq"]["N"])

    def sequences(self, job_ids: list[str]) -> dict[str, SequenceState]:
        found: dict[str, SequenceState] = {}
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), BATCH_GET):
            keys = [sequence_key(j) for j in unique[start : start + BATCH_GET]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(8):
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    job_id = item["pk"]["S"].removeprefix("JOB#")
                    found[job_id] = SequenceState(int(item["seq"]["N"]), item.get("digest", {}).get("S", ""))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05)
        return found

    def _write_all(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table: requests}
        for _ in range(8):
            pending = self._ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(0.05)
        raise RuntimeError(f"could not delete {len(pending[self.table])} connection items")
