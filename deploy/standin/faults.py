"""Twilio misbehaving on purpose, for the fault-injection tests (issue 13).

Why: the product's promise is "never lost, never twice" when Twilio answers 500, throttles
with 429 and Retry-After, or takes a message and never answers (the client times out,
yet the SMS went out: only the provider's log says so). Twilio cannot be asked to do any of
that, so the stand-in does, for the next N create calls or for T seconds:

- `error`: 500 (Twilio's 20500), nothing created;
- `throttle`: 429 (20429) with Retry-After, nothing created;
- `hang`: the message IS created (and will be delivered), the answer waits `hang` seconds,
  longer than the client's timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["error", "throttle", "hang"]


@dataclass
class Fault:
    kind: FaultKind
    remaining: int | None  # create calls still to fail; None: until `until`
    until: float | None  # time.monotonic() it ends at; None: after `remaining` calls
    retry_after: int = 1
    hang: float = 15.0
    hits: int = 0  # create calls it answered

    def take(self) -> bool:
        """Whether this create call is one the fault answers (and count it)."""
        if self.until is not None and time.monotonic() >= self.until:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        self.hits += 1
        return True
