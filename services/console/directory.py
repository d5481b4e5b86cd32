"""The coordinator's directory imports: the hospital's units, staff, shifts and the peer
roster, uploaded as the CSV exports the API and `svrr import` take.

The same importers and the same all-or-nothing rule: a file with any bad row changes
nothing, and the page lists each rejected line with its reason. "Check only" runs every
check and reports without applying, so a coordinator can try an export before it counts.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.people.importer import IMPORTERS, ImportReport

router = APIRouter(prefix=PREFIX)
coordinator_only = page_role(Role.coordinator)

MAX_UPLOAD = 10 * 1024 * 1024
KINDS = {
    "units": "Units (code, name, site, time_zone)",
    "staff": "Staff: the complete export (absent staff are deactivated)",
    "shifts": "Shifts (who worked where, when)",
    "peers": "Peer supporters (training, what they support, limits)",
}


@router.get("/directory")
async def directory_form(
    request: Request, who: Principal = Depends(coordinator_only)
) -> HTMLResponse:
    return render(request, who, "directory/index.html", kinds=KINDS, report=None, error=None)


@router.post("/directory")
async def directory_import(
    request: Request, who: Principal = Depends(coordinator_only)
) -> HTMLResponse:
    form = await request.form(max_files=1, max_fields=10)
    kind = str(form.get("kind", ""))
    upload = form.get("file")
    check_only = form.get("check_only") == "yes"
    allow_mass = form.get("allow_mass_deactivation") == "yes" and kind == "staff"

    def refuse(message: str, status: int = 422) -> HTMLResponse:
        return render(
            request,
            who,
            "directory/index.html",
            status_code=status,
            kinds=KINDS,
            report=None,
            error=message,
            chosen=kind,
        )

    if kind not in KINDS:
        return refuse("Choose what the file holds.")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return refuse("Choose a CSV file to upload.")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return refuse(f"The file is larger than {MAX_UPLOAD // (1024 * 1024)} MB.", 413)
    if not data.strip():
        return refuse("The file is empty.")
    options = {"allow_mass_deactivation": True} if allow_mass else {}
    async with transaction() as session:
        report: ImportReport = await IMPORTERS[kind](session, data, dry_run=check_only, **options)
        await audit.record(
            session,
            who,
            f"directory.{'check' if check_only else 'import'}",
            "directory",
            kind,
            {
                "rows": report.rows,
                "rejected": len(report.rejected),
                "applied": report.applied,
            },
        )
    return render(
        request,
        who,
        "directory/index.html",
        status_code=200 if report.ok else 422,
        kinds=KINDS,
        report=report,
        error=None,
        chosen=kind,
    )
