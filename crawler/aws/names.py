"""IAM action names and the client methods that call them, in botocore's spelling."""

from __future__ import annotations

from botocore import xform_name


def method_name(action: str) -> str:
    """ecr:DescribeRegistry -> describe_registry, the client method behind an IAM action."""
    return xform_name(action.split(":", 1)[1])
