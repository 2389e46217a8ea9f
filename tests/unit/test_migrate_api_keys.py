"""Keys of the job table move to the keys table, still working, and their tenants are enrolled."""

from __future__ import annotations

from typing import Any

from fakes import FakeVerifier
from test_usage_plans import FakeApiGateway

from scripts.migrate_api_keys import migrate
from tasklane.auth import authenticate, digest_of
from tasklane.aws.api_keys import DynamoApiKeyStore


def old_key(ddb: Any, table: str, secret: str, tenant: str, revoked: bool = False) -> None:
    ddb.put_item(TableName=table, Item={
        "pk": {"S": f"APIKEY#{digest_of(secret)}"}, "sk": {"S": "APIKEY"}, "key_id": {"S": digest_of(secret)[:12]},
        "tenant": {"S": tenant}, "name": {"S": "ci"}, "created_at": {"S": "2026-01-01T00:00:00.000Z"},
        "revoked": {"BOOL": revoked},
    })


def test_keys_move_once_keep_working_and_their_tenants_are_enrolled(ddb: Any, table: str, keys_table: str) -> None:
    old_key(ddb, table, "tlk_a", "acme")
    old_key(ddb, table, "tlk_b", "globex", revoked=True)
    api = FakeApiGateway()
    api.plans = {}  # the API stack is not deployed yet: copy only

    assert "2 copied now; no usage plans yet" in migrate(ddb, api, table, keys_table, "tasklane-test")
    keys = DynamoApiKeyStore(keys_table, ddb)
    assert authenticate("ApiKey tlk_a", keys, FakeVerifier({})).tenant == "acme"
    assert keys.find_key(digest_of("tlk_b")).revoked  # type: ignore[union-attr]

    api.plans = {"tasklane-test-plan": "default"}
    report = migrate(ddb, api, table, keys_table, "tasklane-test", delete=True)
    assert report == "2 keys in the job table, 0 copied now, 2 tenants enrolled, 2 old items deleted"
    assert sorted(api.keys[k]["name"] for k in api.plan_keys["default"]) == [
        "tasklane-test-tenant-acme", "tasklane-test-tenant-globex",
    ]
    assert ddb.scan(TableName=table)["Items"] == []
