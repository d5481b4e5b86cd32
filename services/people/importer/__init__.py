"""Imports of the hospital's exports (units, staff, shifts) and the peer roster.

Every import is all or nothing: each row is checked before anything is written, and a file
with a single rejected row changes nothing, so a half-applied export can never leave the
directory in a state nobody exported. The report names every rejected row with its line and
a reason specific enough to fix the export without guessing.

The staff file is a full export: people absent from it become inactive (never deleted: cases
and pages point at them). Units and shifts are upserted. The peer roster is upserted only:
the coordinator also edits peers one by one, so a peers file is never the whole truth.

Each export has its module (`units`, `staff`, `shifts`, `peers`, `staff_ids`: each source
system's identifiers for staff, which feeds resolve through); `common` holds the report and
the CSV reading they share. Field checks are in services/people/fields.py, and the peer
roster's single-record edits in services/people/roster.py.
"""

from services.people.importer.common import ImportReport, Kind, Rejection
from services.people.importer.peers import import_peers
from services.people.importer.shifts import import_shifts
from services.people.importer.staff import import_staff
from services.people.importer.staff_ids import import_staff_ids
from services.people.importer.units import import_units

IMPORTERS = {
    "units": import_units,
    "staff": import_staff,
    "shifts": import_shifts,
    "peers": import_peers,
    "staff-ids": import_staff_ids,
}

__all__ = [
    "IMPORTERS",
    "ImportReport",
    "Kind",
    "Rejection",
    "import_peers",
    "import_shifts",
    "import_staff",
    "import_staff_ids",
    "import_units",
]
