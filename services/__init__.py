"""Intake API, Twilio webhooks, the store and the outbox relay."""
