"""The tiered response of one case: its state machine, deadlines, and the SMS it sends."""
