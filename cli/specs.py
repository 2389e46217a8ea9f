"""Job spec files: JSON or YAML, read into the body of POST /jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cli.targets import CliError

# Larger specs go to S3 through a presigned URL (API Gateway takes at most 10 MB, a Lambda event 6 MB).
INLINE_LIMIT_BYTES = 5 * 1024 * 1024

_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(path: Path) -> dict[str, Any]:
    """The job spec in `path` as JSON-ready data; YAML unless the file ends in .json."""
    is_json = path.suffix.lower() == ".json"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if is_json else yaml.load(text, Loader=_YamlLoader)  # a safe loader
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from error
    except (ValueError, yaml.YAMLError) as error:
        detail = " ".join(str(error).split())
        raise CliError(f"{path} is not valid {'JSON' if is_json else 'YAML'}: {detail}") from error
    if not isinstance(data, dict):
        raise CliError(f"{path}: a job spec is an object with a name and tasks, not {type(data).__name__}")
    # Round trip through JSON so that YAML dates and the like arrive as the strings the API will see.
    return dict(json.loads(encode_spec(data)))


def encode_spec(spec: dict[str, Any]) -> bytes:
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False, default=str).encode()
