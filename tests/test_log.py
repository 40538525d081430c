"""Secret redaction in log events (a pure function, tested directly)."""

from __future__ import annotations

from crawler.log import REDACTED, Redactor


def test_known_secret_values_are_removed_everywhere() -> None:
    """A registered secret disappears from strings, nested values and reprs."""
    redactor = Redactor()
    redactor.add("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    event = redactor(
        None,
        "info",
        {
            "event": "x wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY y",
            "nested": {"v": ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]},
        },
    )
    assert "wJalrXUtnFEMI" not in repr(event)


def test_secret_looking_fields_and_botocore_bodies_are_redacted() -> None:
    """Fields named like secrets, and secrets inside botocore's logged headers and bodies."""
    redactor = Redactor()
    event = redactor(
        None,
        "debug",
        {
            "aws_secret_access_key": "abc",
            "event": "Response body: b'<SecretAccessKey>fresh+secret/123</SecretAccessKey>' "
            "{'X-Amz-Security-Token': 'FwoGZXIvYXdzEFAKE', 'authorizationToken': 'QVdTOnh4eA=='}",
        },
    )
    assert event["aws_secret_access_key"] == REDACTED
    for secret in ("fresh+secret/123", "FwoGZXIvYXdzEFAKE", "QVdTOnh4eA=="):
        assert secret not in event["event"]


def test_a_password_in_a_logged_uri_is_redacted() -> None:
    """A database URI in a log event keeps its user and host, not its password."""
    event = Redactor()(None, "warning", {"event": "retrying postgresql://u:hunter22@db:5432/x"})
    assert event["event"] == f"retrying postgresql://u:{REDACTED}@db:5432/x"
