"""Unit tests: pure code, no broker, no database, no stack process, no browser.

Why the store and the broker are pointed at addresses nothing listens on: the settings'
defaults name the local development services, so a test here that reached for either would
quietly pass against whatever happens to run on this machine. Pointed at a closed port, such
a test fails at once, naming what it tried to reach; it belongs in tests/integration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# Port 9 (discard) on loopback: connections are refused at once, nothing waits.
NOWHERE = {
    "DATABASE_URL": "postgresql+psycopg://unit:unit@127.0.0.1:9/no_database_in_unit_tests",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
}


@pytest.fixture(scope="package", autouse=True)
def no_infrastructure() -> Iterator[None]:
    from services.config import get_settings

    with pytest.MonkeyPatch.context() as mp:
        for name, value in NOWHERE.items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()
