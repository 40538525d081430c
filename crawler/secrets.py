"""What counts as a secret, in one place: the key names whose values are secrets, the shapes of a
secret inside a URI, a header or a logged AWS response, and `redact(text)` that removes them.

The config loader (error messages, plain-text warnings), the log redactor and the sinks (URIs
shown to a person, `redact_uri`) all ask this module, so a new kind of secret is added once. A
secret is always replaced by REDACTED, wherever it is shown."""

from __future__ import annotations

import re

REDACTED = "[redacted]"

# Keys (config keys, log fields, headers) whose values are secrets.
SECRET_KEY = re.compile(r"secret|token|password|authorization|credential", re.IGNORECASE)

# A password in the user part of a URI: scheme://user:PASSWORD@host. The slashes are optional
# so that a mistyped URI (postgres:/user:PASSWORD@host) is covered too; an already masked
# password (***) is left alone.
URI_PASSWORD = r"(?P<user>\b[a-z][a-z0-9+.-]*:/*[^/@\s:'\"]*:)(?!\*\*\*@)[^/@\s'\"]+(?=@)"
# A password in a URI's query: ?password=... (libpq also reads sslpassword).
QUERY_PASSWORD = r"(?P<query>[?&](?:ssl)?password=)[^&\s'\"]+"
# Secrets that botocore's debug logs print inside request headers (any case: the canonical
# request has x-amz-security-token) and response bodies (XML, JSON or a Python repr).
LOGGED_SECRET = (
    r"(?P<key>(?:SecretAccessKey|SessionToken|authorizationToken|X-Amz-Security-Token)"
    r"['\"]?\s*[>:=,]\s*[b'\"]*)[^<'\"\s,}]+"
)

# A whole string meant as a URI (a sink's) may also have lost its scheme (user:PASSWORD@host):
# then what lies between the user's colon and the host's @ (the last one before the path) is a
# password too. Only for a whole URI: in free text, repo:tag@sha256:... names an image.
WHOLE_URI_PASSWORD = (
    r"^(?P<user>(?:[a-z][a-z0-9+.-]*:/+)?[^/@:\s]*:)(?!\*\*\*@)[^/\s]+?(?=@[^@/\s]*(?:[/?#]|$))"
)

_IN_TEXT = re.compile(f"{LOGGED_SECRET}|{URI_PASSWORD}|{QUERY_PASSWORD}", re.IGNORECASE)
_IN_URI = re.compile(f"{URI_PASSWORD}|{QUERY_PASSWORD}", re.IGNORECASE)
_WHOLE_URI = re.compile(WHOLE_URI_PASSWORD, re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    """Whether the value of a key (or log field) named `name` is a secret."""
    return SECRET_KEY.search(name) is not None


def holds_password(text: str) -> bool:
    """Whether `text` holds a URI with a password in it (user part or query)."""
    return _IN_URI.search(text) is not None


def redact(text: str) -> str:
    """`text` with every secret of a known shape replaced by REDACTED; what names the secret
    (the header, the URI's scheme and user, the query parameter) is kept."""
    return _IN_TEXT.sub(lambda m: (m["key"] or m["user"] or m["query"]) + REDACTED, text)


def redact_uri(uri: str) -> str:
    """A URI (or what was meant as one: a mistyped sink) for a person: `redact`, and also a
    password whose scheme was left out (`user:PASSWORD@host/db`)."""
    return redact(_WHOLE_URI.sub(lambda m: m["user"] + REDACTED, uri, count=1))
