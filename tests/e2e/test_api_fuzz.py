"""Property-based fuzzing of the deployed API from its own OpenAPI document (schemathesis).

Every generated request goes through API Gateway and the authorizer as tenant acme: no answer may be a
5xx, and every answer must match the schema the document declares for its status.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from scripts.openapi_document import document

# The document built in-process from the API's code, so collecting the suite needs no platform; the first test
# checks that the deployed API serves the very same one.
DOCUMENT = document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_deployed_api_serves_the_document_the_fuzzing_uses(endpoints: dict[str, Any]) -> None:
    # A first call may meet a cold function on a busy machine: allow it time.
    served = httpx.get(endpoints["api_url"] + "openapi.json", timeout=60)
    assert served.status_code == 200 and served.json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_matches_the_schema(case: Any, endpoints: dict) -> None:
    headers = dict(endpoints["tenants"]["acme"]["headers"])
    case.call_and_validate(
        base_url=endpoints["api_url"].rstrip("/"),
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        timeout=60,
    )
