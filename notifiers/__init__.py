"""Outbound messages: SMS through the real Twilio client, and the words they carry."""
