"""Secrets, in one place: which param names are secrets, and how a tracking
URI or an error message is shown without its credentials.

Pure functions (no pytest, no mlflow), unit-tested in tests/test_redaction.py.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse

#: A word of a param name that ends with one of these marks a secret
#: (``hf_token``, ``dbPassword``, ``authtoken``), while ``tokenizer`` or
#: ``max_tokens`` are ordinary params.
SECRET_WORD = re.compile(r"(passwords?|passwd|passphrase|pwd|token|secrets?|apikey|credentials?)$")
#: Two consecutive words that mark a secret (``api_key``, ``AWS_ACCESS_KEY``).
SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key")})
#: How a secret's stand-in starts (``***1a2b3c4d``, see :func:`mask_secret`).
MASK = "***"


def is_secret_name(name: str) -> bool:
    """Params named like secrets are masked in ids, tracking and reports."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)  # camelCase -> camel_Case
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)  # APIKey -> API_Key
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    if any(SECRET_WORD.search(word) for word in words):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def scrub_credentials(text: str) -> str:
    """``text`` with every URL in it redacted as :func:`redact_uri` does
    (user:password, and query values named like secrets): MLflow's error
    messages quote the tracking URI as given."""
    text = _URL.sub(lambda m: redact_uri(m.group(0)) or "", text)
    return _USERINFO.sub(r"\g<scheme>***@", text)


def redact_uri(uri: str | None) -> str | None:
    """The URI without user:password (and without query secrets like tokens)."""
    if uri is None:
        return None
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme in ("http", "https", "postgresql", "mysql", "mssql") or "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if "@" in parts.netloc:
            netloc = "***@" + netloc
        query = "&".join(
            f"{k}=***" if _secret_name(k) else f"{k}={v}"
            for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        )
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return uri


def _secret_name(name: str) -> bool:
    # Deliberately broader than is_secret_name (a substring match): in a URI,
    # masking a harmless query value costs nothing, leaking one does.
    lowered = name.lower()
    return any(w in lowered for w in ("password", "passwd", "token", "secret", "api_key", "apikey"))
