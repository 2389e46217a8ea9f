"""A small in-memory DynamoDB on HTTP (JSON 1.0), to stand behind the limits proxy in its unit tests.

It answers the operations the proxy's model touches, for one table with `pk`/`sk` keys and a GSI on
`gsi1pk`. UpdateItem understands `SET a = :v, b = :w` only. A transaction can be held in flight: while
`hold` is set, the next TransactWriteItems waits for `release` before it applies, so a test can overlap two of them.
Every request it received is kept in `received` (operation, body) for the tests to inspect.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TABLE = "jobs"
ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}"


class FakeDynamo:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.hold = threading.Event()
        self.release = threading.Event()
        self.holding = threading.Event()  # set while a held transaction waits
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeDynamo:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                status, answer = fake.answer(target, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def operations(self) -> list[str]:
        return [op for op, _ in self.received]

    # --- DynamoDB, in memory -----------------------------------------------------------------------------

    @staticmethod
    def key(item: dict[str, Any]) -> tuple[str, str]:
        return item["pk"]["S"], item["sk"]["S"]

    def answer(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        service, _, operation = target.partition(".")
        with self._lock:
            self.received.append((operation, body))
        if service != "DynamoDB_20120810":
            return 200, {"Streams": []}  # DynamoDB Streams' ListStreams, relayed
        if operation == "TransactWriteItems" and self.hold.is_set():
            self.hold.clear()  # only the first: the ones after it apply at once
            self.holding.set()
            self.release.wait(10)
        with self._lock:
            return getattr(self, f"_{operation}")(body)

    def _DescribeTable(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"Table": {
            "TableName": TABLE, "TableArn": ARN,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [{"IndexName": "gsi1", "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}]}],
        }}

    def _PutItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.items[self.key(body["Item"])] = body["Item"]
        return 200, {}

    def _GetItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        item = self.items.get(self.key(body["Key"]))
        return 200, {"Item": item} if item else {}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        item = dict(self.items.get(self.key(body["Key"]), body["Key"]))
        names, values = body.get("ExpressionAttributeNames", {}), body.get("ExpressionAttributeValues", {})
        for clause in body["UpdateExpression"].removeprefix("SET ").split(","):
            name, value = (part.strip() for part in clause.split("="))
            item[names.get(name, name)] = values[value]
        self.items[self.key(body["Key"])] = item
        return item

    def _UpdateItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        item = self._update(body)
        return 200, {"Attributes": item} if body.get("ReturnValues") == "ALL_NEW" else {}

    def _DeleteItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        old = self.items.pop(self.key(body["Key"]), None)
        return 200, {"Attributes": old} if old and body.get("ReturnValues") == "ALL_OLD" else {}

    def _Query(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        pk = body["ExpressionAttributeValues"][":pk"]["S"]
        found = [item for (p, _), item in sorted(self.items.items()) if p == pk]
        return 200, {"Items": found, "Count": len(found)}

    def _BatchWriteItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for entries in body["RequestItems"].values():
            for entry in entries:
                if "PutRequest" in entry:
                    self.items[self.key(entry["PutRequest"]["Item"])] = entry["PutRequest"]["Item"]
                else:
                    self.items.pop(self.key(entry["DeleteRequest"]["Key"]), None)
        return 200, {"UnprocessedItems": {}}

    def _BatchGetItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def projected(item: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
            names = spec.get("ProjectionExpression")
            return {k: v for k, v in item.items() if k in names.split(",")} if names else item

        responses = {table: [projected(self.items[self.key(k)], spec) for k in spec["Keys"]
                             if self.key(k) in self.items]
                     for table, spec in body["RequestItems"].items()}
        return 200, {"Responses": responses, "UnprocessedKeys": {}}

    def _TransactWriteItems(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for entry in body["TransactItems"]:
            kind, spec = next(iter(entry.items()))
            if kind == "Put":
                self.items[self.key(spec["Item"])] = spec["Item"]
            elif kind == "Update":
                self._update(spec)
            elif kind == "Delete":
                self.items.pop(self.key(spec["Key"]), None)
        return 200, {}

    def _TransactGetItems(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        responses = []
        for entry in body["TransactItems"]:
            item = self.items.get(self.key(entry["Get"]["Key"]))
            responses.append({"Item": item} if item else {})
        return 200, {"Responses": responses}
