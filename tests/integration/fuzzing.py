"""What the fuzz tests (tests/integration/test_fuzz_*.py, marker `fuzz`) share: one hypothesis
profile, the leak check every response body goes through, and the tally they report.

Why a fixed profile: `make test` and CI must fail on the same inputs every time, so a red
run can be re-run and a fix shown green on the very example that found the defect. The
profile is derandomized (hypothesis draws from a seed derived from each test's name), has
no per-example deadline (a loaded 2-core machine is slow, not wrong) and keeps no example
database (a CI checkout starts empty; a local one must not replay another run's inputs).
To explore beyond the fixed examples, run with SVRR_FUZZ_PROFILE=explore (random draws;
hypothesis prints the seed of a failure: `--hypothesis-seed=N` replays it).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

CI_PROFILE = "svrr-fuzz-ci"
settings.register_profile(
    CI_PROFILE,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
settings.register_profile("explore", settings.get_profile(CI_PROFILE), derandomize=False)


def fuzz_settings(max_examples: int) -> settings:
    """The profile chosen for this run (SVRR_FUZZ_PROFILE, the CI profile by default) with a
    test's own bound on examples: each test states what it costs."""
    base = settings.get_profile(os.environ.get("SVRR_FUZZ_PROFILE", CI_PROFILE))
    return settings(base, max_examples=max_examples)


# --- what no response may carry -------------------------------------------------------------

# Text only an unhandled exception, a driver or an ORM puts into a body: a traceback, the
# exception's module, SQLAlchemy's "[SQL: ...]" and "(Background on this error ...)", the
# PostgreSQL error's DETAIL/LINE/HINT lines. None of these is a value a caller could send
# and see echoed in a legitimate answer (a schedule named "SELECT" is, hence two lists).
TRACE_MARKERS = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+"
    r"|\bsqlalchemy\.(?:exc|orm|engine)\b|\bpsycopg(?:2)?\.(?:errors|Error|Operational)"
    r"|\[SQL: |\[parameters: |Background on this error|\bDETAIL:  |\bLINE \d+: |\bHINT:  "
    r"|\b(?:IntegrityError|ProgrammingError|DataError|OperationalError|InternalError)\b"
    r"|\b(?:KeyError|TypeError|ValueError|AttributeError|AssertionError|IndexError)\b"
    r"|\bcurrent transaction is aborted\b|\bsyntax error at or near\b"
)
# SQL a statement would hold. A caller's own text may come back in a 2xx answer (a name it
# gave), so this one counts only when the request did not carry it.
SQL_TEXT = re.compile(
    r"\b(?:SELECT\b[^\n]{0,200}\bFROM|INSERT INTO|UPDATE\b[^\n]{0,100}\bSET|DELETE FROM"
    r"|ON CONFLICT|RETURNING|jsonb_to_recordset)\b",
    re.IGNORECASE,
)


def leaks(body: str, sent: str = "") -> list[str]:
    """What in a response body reads as a stack trace or SQL (an empty list: nothing)."""
    found = [m.group(0) for m in TRACE_MARKERS.finditer(body)]
    found += [m.group(0) for m in SQL_TEXT.finditer(body) if m.group(0) not in sent]
    return found


# --- the tally ------------------------------------------------------------------------------

tally: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=False)
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """A module's counts (requests sent, records delivered, by outcome), printed at its end
    even without -s, for the issue's closing note."""
    before = Counter(tally)
    yield tally
    delta = {k: v - before.get(k, 0) for k, v in tally.items() if v != before.get(k, 0)}
    line = f"fuzz {request.module.__name__.rsplit('.', 1)[-1]}: " + ", ".join(
        f"{k} {v}" for k, v in sorted(delta.items())
    )
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)
