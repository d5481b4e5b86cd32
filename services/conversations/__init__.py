"""What people answer by SMS, read into decisions without touching the store."""
