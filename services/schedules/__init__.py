"""On-call schedules: rotations with hand-offs in local time, parallel on-call, overrides."""
