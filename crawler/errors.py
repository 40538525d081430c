"""The error tree of ecr-crawler; botocore's errors are translated into it in `crawler.aws.errors`.

    CrawlerError
    ├── ConfigError              bad config file, flag or environment variable      exit 2
    ├── CredentialsError         credentials missing, rejected or expired           exit 3
    ├── SinkError                the sink cannot write                              exit 1
    ├── InterruptedScanError     stopped twice, before the summary was written      exit 130
    └── AwsError                 one AWS call failed: operation, code, message
        ├── AccessDeniedError    IAM, an SCP or a resource policy said no
        ├── RegionDisabledError  an opt-in region not enabled for the account
        ├── NotFoundError        the resource is gone (a repository deleted mid-scan)
        └── RetryableError       worth another try: 5xx, timeouts, connection errors
            └── ThrottledError   AWS's rate limit

An `AwsError` inside a scan becomes an `error` record and the scan goes on; the others end it.
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base of every error ecr-crawler raises on purpose."""

    exit_code = 1


class ConfigError(CrawlerError):
    exit_code = 2


class CredentialsError(CrawlerError):
    exit_code = 3


class SinkError(CrawlerError):
    pass


class InterruptedScanError(CrawlerError):
    exit_code = 130


class AwsError(CrawlerError):
    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message


class AccessDeniedError(AwsError):
    pass


class RegionDisabledError(AwsError):
    pass


class NotFoundError(AwsError):
    pass


class RetryableError(AwsError):
    pass


class ThrottledError(RetryableError):
    pass
