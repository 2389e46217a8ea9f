"""Local stand-ins for AWS behaviour that the embedded AWS does not have (see localaws/dynamodb_limits.py)."""
