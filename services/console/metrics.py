"""Programme metrics for the coordinator and administrators: charts, tables and CSV.

Aggregates only, suppressed in SQL (services/programme/metrics.py): a page or a download here
can never carry a cell that would pick out a person.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from services import clock
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.deps import page_role
from services.identity.models import Role
from services.identity.principal import Principal
from services.programme import charts, export, tables
from services.programme import metrics as programme

router = APIRouter(prefix=PREFIX)
metrics_roles = page_role(Role.coordinator, Role.admin)

TABLES = {
    "times": programme.response_times,
    "answers": programme.answer_rates,
    "tiers": programme.tier_mix,
    "disciplines": programme.volumes_by_discipline,
    "units": programme.volumes_by_unit,
}


def _period(months: int, who: Principal) -> tables.Period:
    today = clock.now().astimezone(ZoneInfo(who.time_zone)).date()
    return tables.Period.trailing(months, today, who.time_zone)


@router.get("/metrics")
async def metrics_page(
    request: Request,
    months: int = Query(12, ge=1, le=36),
    who: Principal = Depends(metrics_roles),
) -> HTMLResponse:
    period = _period(months, who)
    async with transaction() as session:
        times = await programme.response_times(session, period)
        answers = await programme.answer_rates(session, period)
        tiers = await programme.tier_mix(session, period)
        disciplines = await programme.volumes_by_discipline(session, period)
        units = await programme.volumes_by_unit(session, period)
        await audit.record(session, who, "metrics.view", "metrics", f"{months} months")
    figures = [
        ("times", times.title, charts.times_chart(times, "chart-times")),
        ("answers", answers.title, charts.answers_chart(answers, "chart-answers")),
        ("tiers", tiers.title, charts.tiers_chart(tiers, "chart-tiers")),
        ("disciplines", disciplines.title, charts.volume_chart(disciplines, "chart-disc")),
        ("units", units.title, charts.volume_chart(units, "chart-units")),
    ]
    return render(
        request,
        who,
        "metrics/index.html",
        months=months,
        figures=[(name, title, Markup(svg)) for name, title, svg in figures],
        tables={
            "answers": answers,
            "tiers": tiers,
            "disciplines": disciplines,
            "units": units,
        },
        times=times,
        month_name=charts.month_name,
    )


@router.get("/metrics/{table}.csv")
async def metrics_csv(
    table: str,
    months: int = Query(12, ge=1, le=36),
    who: Principal = Depends(metrics_roles),
) -> Response:
    if table not in TABLES:
        raise HTTPException(404, "no such table")
    period = _period(months, who)
    async with transaction() as session:
        result = await TABLES[table](session, period)
        await audit.record(session, who, "metrics.download", "metrics", table)
    body = (
        export.times_csv(result)  # type: ignore[arg-type]
        if table == "times"
        else export.table_csv(result)  # type: ignore[arg-type]
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="peer-support-{table}-{months}m.csv"',
            "Cache-Control": "no-store",
        },
    )
