"""The first admin key of a deployment, issued with AWS credentials into the keys table."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeVerifier
from typer.testing import CliRunner

from scripts import issue_admin_key
from tasklane.auth import authenticate
from tasklane.aws.api_keys import DynamoApiKeyStore


def test_it_prints_a_working_admin_key_once(monkeypatch: pytest.MonkeyPatch, keys_table: str, ddb: Any) -> None:
    seen: list[str] = []

    def table_of(session: Any, prefix: str) -> str:
        seen.append(prefix)
        return keys_table

    monkeypatch.setattr(issue_admin_key, "keys_table", table_of)
    result = CliRunner().invoke(issue_admin_key.cli, ["--stack", "tasklane-prod", "--name", "alice",
                                                      "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    assert seen == ["tasklane-prod"]
    secret = result.output.strip().splitlines()[-1]
    principal = authenticate(f"ApiKey {secret}", DynamoApiKeyStore(keys_table, ddb), FakeVerifier({}))
    assert principal.admin and principal.tenant == "ops"
    assert result.output.count(secret) == 1
