"""On-call schedules: rotations with hand-offs in local time, parallel on-call, overrides.

`rules` decides who is on call from specs, with no database; `service` loads every
schedule's specs for paging; `inputs` and `admin` are the coordinator's edits and views;
`coverage` finds the hours no peer of a discipline is on call; `demo` is the seeded schedule.
"""
