"""Programme metrics: aggregates over the store, suppressed so nobody can be picked out."""
