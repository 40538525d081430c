"""The partition's ECR regions, read from botocore's endpoint data without starting botocore."""

from __future__ import annotations

import anyio
import pytest
from aiobotocore.session import AioSession

from crawler.aws.regions import partition_regions


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_same_regions_as_botocore(partition: str) -> None:
    """Each partition lists exactly the regions botocore's session offers ECR in, sorted."""
    expected = anyio.run(AioSession().get_available_regions, "ecr", partition)
    assert partition_regions(partition) == sorted(expected)
    assert partition_regions(partition)


def test_unknown_partition_has_no_regions() -> None:
    """A partition the endpoint data does not know lists nothing."""
    assert partition_regions("aws-mars") == []
