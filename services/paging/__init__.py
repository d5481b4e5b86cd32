"""Support cases and the SMS pages sent for them, with every state change on record."""
