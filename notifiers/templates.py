"""The words of every SMS we send.

Minimum necessary: a page names no patient, no clinical detail, no unit and no event. A peer
learns who needs support only after accepting. Kept in one place so a reviewer can read every
message the product can send on one screen.
"""

from __future__ import annotations


def peer_page(reply_code: str) -> str:
    return (
        f"Peer support page {reply_code}: a colleague may need support after a difficult event. "
        f"Reply {reply_code}A to accept or {reply_code}P to pass."
    )


def coordinator_page(reply_code: str) -> str:
    return (
        f"Peer support page {reply_code}: no on-call peer is available for a colleague who may "
        f"need support. Reply {reply_code}A to take it."
    )
