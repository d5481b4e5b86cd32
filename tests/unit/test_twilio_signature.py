"""Twilio's signature check (services.auth.twilio_signed) answers exactly what twilio's
RequestValidator.validate answers, for every form of URL and signature, while computing one
HMAC, not two, for the signature Twilio sends us (the URL as we are configured with it)."""

from __future__ import annotations

from itertools import product
from types import SimpleNamespace

import pytest
from twilio.request_validator import RequestValidator

from services import auth

TOKEN = "12345678901234567890123456789012"
SECONDARY = "abcdefabcdefabcdefabcdefabcdefab"
FORM = {
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "MessageStatus": "delivered",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "Body": "a+b=c&d",
}
CONFIGURED = [
    "http://127.0.0.1:8000/twilio/status?page=1",
    "https://pager.example.org/twilio/status?page=1",
    "https://pager.example.org:443/twilio/status",
    "HTTPS://pager.example.org/twilio/status?",
    "http://pager.example.org:8443/twilio/sms?bodySHA256=x",
]


def _variants(url: str) -> list[str]:
    """What Twilio may have signed: the URL as given, with its port and without."""
    from urllib.parse import urlparse

    from twilio.request_validator import add_port, remove_port

    parsed = urlparse(url)
    return [url, add_port(parsed), remove_port(parsed), url + "x"]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    auth._validators.cache_clear()
    fake = SimpleNamespace(twilio_auth_token=TOKEN, twilio_auth_token_secondary=SECONDARY)
    monkeypatch.setattr(auth, "get_settings", lambda: fake)


@pytest.mark.parametrize("url", CONFIGURED)
def test_same_answer_as_validate(url: str, settings: None) -> None:
    cases = 0
    for signed_url, token, form in product(
        _variants(url), (TOKEN, SECONDARY, "f" * 32), (FORM, {**FORM, "Body": "other"})
    ):
        signature = RequestValidator(token).compute_signature(signed_url, FORM)
        for given in (signature, signature[:-2] + "==", ""):
            expected = bool(given) and any(
                RequestValidator(t).validate(url, form, given) for t in (TOKEN, SECONDARY)
            )
            assert auth.twilio_signed(url, form, given) is expected, (signed_url, token, given)
            cases += expected
    assert cases  # some of them are accepted: the comparison is not of two refusals


def test_one_hmac_for_the_configured_url(settings: None, monkeypatch: pytest.MonkeyPatch) -> None:
    url = CONFIGURED[0]
    signature = RequestValidator(TOKEN).compute_signature(url, FORM)
    computed: list[str] = []
    real = RequestValidator.compute_signature

    def counted(self: RequestValidator, uri: str, params: object, algorithm: object = None) -> str:
        computed.append(uri)
        return real(self, uri, params, algorithm)

    monkeypatch.setattr(RequestValidator, "compute_signature", counted)
    assert auth.twilio_signed(url, FORM, signature)
    assert computed == [url]


def test_a_malformed_port_raises_as_validate_does(settings: None) -> None:
    url = "http://pager.example.org:port/twilio/status"
    signature = RequestValidator(TOKEN).compute_signature(url, FORM)
    with pytest.raises(ValueError):
        RequestValidator(TOKEN).validate(url, FORM, signature)
    with pytest.raises(ValueError):
        auth.twilio_signed(url, FORM, signature)
