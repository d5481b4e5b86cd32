"""Who is asking: people who sign in to the console, integration tokens, and the audit log.

Confidentiality by role is a property of people and sessions: a risk manager's session can
reach incidents and nothing about who was supported; a peer's, only their own cases.

Single sign-on seam: a hospital's OIDC provider (authlib's Starlette client is the library
we would use) ends in the same place as a password: `sessions.open_session(user)` for a
`User` found by its username (the provider's `preferred_username` or e-mail claim, matched
to `users.username`) and still active. Roles stay ours, granted in the console, never taken
from the provider's claims. Nothing of it is built yet: the seam is that single call.
"""
