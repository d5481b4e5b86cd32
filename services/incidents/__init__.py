"""Incident intake: what risk management logs, validated and stored before it is published."""
