"""Every default SMS text passes the checks an administrator's edit must pass
(services/texts); the administrator's pages are in tests/integration/test_console_admin.py.
"""

from __future__ import annotations

from services import texts


def test_every_default_text_passes_its_own_checks() -> None:
    for kind in texts.KINDS.values():
        assert texts.check(kind.key, kind.default) == [], kind.key
        assert set(texts.fields_of(kind.default)) <= kind.placeholders, kind.key
        assert kind.required <= set(texts.fields_of(kind.default)), kind.key
        assert set(kind.sample) == set(texts.fields_of(kind.default)), kind.key
