"""Event contracts (pydantic) and the Kafka topic catalogue; JSON Schema exports in json/."""
