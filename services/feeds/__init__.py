"""Incident feeds: the hospital systems that already record adverse events, read as they are.

Each adapter turns one source's records into a FeedRecord (services.feeds.record) and
nothing else: patient data stops at the adapter, which never copies a patient's identifier,
name or encounter into what it returns, its refusals or its logs.
"""
