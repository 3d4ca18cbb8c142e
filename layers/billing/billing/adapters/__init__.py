"""Adapters: the only place boto3 appears."""
