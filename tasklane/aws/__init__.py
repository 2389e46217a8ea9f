"""Adapters from the domain's ports to AWS services; the only code here that talks to boto3."""
