"""Every Python example of docs/SDK.md runs as written against the local platform, as tenant acme."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

GUIDE = Path(__file__).parents[2] / "docs" / "SDK.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)


def test_the_guide_has_its_examples() -> None:
    assert len(EXAMPLES) == 5


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_the_example_runs(source: str, endpoints: dict[str, Any]) -> None:
    api_key = endpoints["tenants"]["acme"]["headers"]["Authorization"].removeprefix("ApiKey ")
    exec(compile(source, str(GUIDE), "exec"), {"API_URL": endpoints["api_url"], "API_KEY": api_key})
