"""Prints the job API's OpenAPI document, as GET /openapi.json serves it, without a running platform.

The dashboard's TypeScript types are generated from it (`make api-types`), and `make test` checks that the
committed types still match it.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from lambdas.api.handler import API_TITLE, API_VERSION, SECURITY, app, security_schemes

    document = app.get_openapi_json_schema(
        title=API_TITLE, version=API_VERSION, security_schemes=security_schemes(), security=SECURITY
    )
    # Sorted and indented, so that a change of the API reads as a small diff of the generated types.
    json.dump(json.loads(document), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
