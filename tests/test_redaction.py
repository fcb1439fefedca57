"""Secrets in one place (pytest_experiments.redaction): secret param names,
and tracking URIs and error messages shown without their credentials."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments.redaction import is_secret_name, redact_uri, scrub_credentials

# Values that cannot appear by accident in the rest of a URI.
secret = st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ23456789", min_size=8, max_size=20)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://alice:s3cret@mlflow.example:5000", "http://***@mlflow.example:5000"),
        (
            "https://mlflow.example/api?token=abc&team=ml",
            "https://mlflow.example/api?token=***&team=ml",
        ),
        ("https://h/?api_key=k1&password=p&x=1", "https://h/?api_key=***&password=***&x=1"),
        ("https://h/?client_secret=v", "https://h/?client_secret=***"),
        ("postgresql://u:pw@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_redact_none_is_none() -> None:
    assert redact_uri(None) is None


@given(
    user=secret,
    password=secret,
    token=secret,
    name=st.sampled_from(["token", "access_token", "apikey", "Password"]),
)
def test_no_credential_survives_redaction(user: str, password: str, token: str, name: str) -> None:
    uri = f"https://{user}:{password}@mlflow.example:443/root?{name}={token}&experiment=heart"
    shown = redact_uri(uri)
    assert shown is not None
    for leaked in (user, password, token):
        assert leaked not in shown
    assert "mlflow.example:443/root" in shown and "experiment=heart" in shown
    message = f"HTTPConnectionPool: failed to reach {uri} (Max retries exceeded)"
    scrubbed = scrub_credentials(message)
    assert user not in scrubbed and password not in scrubbed
    assert "https://***@mlflow.example:443/root" in scrubbed


@pytest.mark.parametrize(
    "name", ["password", "api_key", "HF_TOKEN", "dbPassword", "client_secret", "AWS_ACCESS_KEY_ID"]
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["tokenizer", "max_tokens", "n_estimators", "key", "learning_rate"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)
