"""The Twilio adapter: SMS through the real twilio client. The words it carries are the
domain's (services.texts)."""
