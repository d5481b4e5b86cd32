"""The administrator's pages for what people are sent: each SMS text per language, and each
site's crisis line that the texts name.

A saved text is checked against its kind's placeholders first, and the cache of texts is
dropped so the next SMS uses it.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services import texts
from services.console.admin import Admin, form_field, list_sites, read_form
from services.console.pages import PREFIX, render
from services.db import transaction
from services.identity import audit
from services.identity.models import Site, SmsTemplate
from services.identity.principal import Principal
from services.people.fields import normalise_language
from services.people.models import Staff

router = APIRouter(prefix=f"{PREFIX}/admin")

AUDIENCES = ("clinician", "peer", "unit lead", "anyone")
# Offered first in the language list; any two-letter code the directory uses is offered too.
COMMON_LANGUAGES = ("en", "es", "fr", "pt", "zh", "vi", "ar", "ht", "ru", "ko", "tl")
CRISIS_LINE = re.compile(r"^\+?[0-9][0-9 ()-]{1,30}$")


# --- SMS texts ------------------------------------------------------------------------------


async def _languages(session: AsyncSession) -> list[str]:
    used = set((await session.scalars(select(Staff.language).distinct())).all()) | set(
        (await session.scalars(select(SmsTemplate.language).distinct())).all()
    )
    return list(COMMON_LANGUAGES) + sorted(used - set(COMMON_LANGUAGES))


@router.get("/templates")
async def templates_page(request: Request, who: Admin, saved: str = "") -> Response:
    async with transaction() as session:
        rows = (await session.execute(select(SmsTemplate.kind, SmsTemplate.language))).all()
        languages = await _languages(session)
    overridden: dict[str, list[str]] = {}
    for kind, language in sorted(rows):
        overridden.setdefault(kind, []).append(language)
    groups = [(a, [k for k in texts.KINDS.values() if k.audience == a]) for a in AUDIENCES]
    return render(
        request,
        who,
        "admin/sms_templates.html",
        groups=groups,
        overridden=overridden,
        languages=languages,
        notice={"1": "Text saved.", "reset": "Text back to the default."}.get(saved),
    )


def _kind_and_language(kind: str, language: str) -> tuple[texts.Kind, str] | None:
    spec = texts.KINDS.get(kind)
    try:
        lang = normalise_language(language)
    except ValueError:
        return None
    return (spec, lang) if spec is not None else None


def _preview(spec: texts.Kind, body: str) -> str | None:
    try:
        return texts.fill(body, spec.sample) if not texts.check(spec.key, body) else None
    except (KeyError, ValueError, IndexError):
        return None


async def _template_page(
    request: Request,
    who: Principal,
    spec: texts.Kind,
    language: str,
    body: str | None,
    errors: list[str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        saved = await session.get(SmsTemplate, (spec.key, language))
    text = body if body is not None else (saved.body if saved else spec.default)
    return render(
        request,
        who,
        "admin/sms_template_edit.html",
        status_code=status_code,
        spec=spec,
        language=language,
        body=text,
        saved=saved,
        errors=errors,
        notice=notice,
        preview=_preview(spec, text),
        default_preview=texts.fill(spec.default, spec.sample),
        max_length=texts.MAX_LENGTH,
    )


@router.get("/templates/edit")
async def template_pick(
    request: Request, who: Admin, kind: str = "", language: str = ""
) -> Response:
    """The picker's GET form: straight to the text for that kind and language."""
    found = _kind_and_language(kind, language)
    if found is None:
        return RedirectResponse(f"{PREFIX}/admin/templates", status_code=303)
    return RedirectResponse(f"{PREFIX}/admin/templates/{found[0].key}/{found[1]}", status_code=303)


@router.get("/templates/{kind}/{language}")
async def template_page(request: Request, who: Admin, kind: str, language: str) -> Response:
    found = _kind_and_language(kind, language)
    if found is None:
        return render(
            request,
            who,
            "error.html",
            status_code=404,
            heading="No such text",
            message="Pick a kind of SMS and a two-letter language code from the list.",
            home=f"{PREFIX}/admin/templates",
        )
    return await _template_page(request, who, found[0], found[1], None, [])


@router.post("/templates/{kind}/{language}")
async def template_save(request: Request, who: Admin, kind: str, language: str) -> Response:
    found = _kind_and_language(kind, language)
    if found is None:
        return RedirectResponse(f"{PREFIX}/admin/templates", status_code=303)
    spec, lang = found
    form = await read_form(request)
    body = " ".join(str(form.get("body", ""))[:2000].split())  # one SMS is one paragraph
    problems = texts.check(spec.key, body)
    if form.get("intent") == "preview" or problems:
        return await _template_page(
            request, who, spec, lang, body, problems, None, 400 if problems else 200
        )
    async with transaction() as session:
        await session.execute(
            insert(SmsTemplate)
            .values(kind=spec.key, language=lang, body=body, updated_by=who.name[:64])
            .on_conflict_do_update(
                index_elements=["kind", "language"],
                set_={"body": body, "updated_at": func.now(), "updated_by": who.name[:64]},
            )
        )
        # The text itself is the programme's wording, not a person's: kept whole in the log.
        await audit.record(
            session, who, "sms_template_save", "sms_template", f"{spec.key}:{lang}", {"body": body}
        )
    texts.forget()
    return RedirectResponse(f"{PREFIX}/admin/templates?saved=1", status_code=303)


@router.post("/templates/{kind}/{language}/reset")
async def template_reset(request: Request, who: Admin, kind: str, language: str) -> Response:
    found = _kind_and_language(kind, language)
    if found is None:
        return RedirectResponse(f"{PREFIX}/admin/templates", status_code=303)
    spec, lang = found
    async with transaction() as session:
        saved = await session.get(SmsTemplate, (spec.key, lang), with_for_update=True)
        if saved is not None:
            await session.delete(saved)
            await audit.record(
                session, who, "sms_template_reset", "sms_template", f"{spec.key}:{lang}"
            )
    texts.forget()
    return RedirectResponse(f"{PREFIX}/admin/templates?saved=reset", status_code=303)


# --- sites and their crisis lines -----------------------------------------------------------


async def _sites_page(
    request: Request,
    who: Principal,
    errors: dict[str, str],
    values: dict[str, str],
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    async with transaction() as session:
        sites = await list_sites(session)
    return render(
        request,
        who,
        "admin/sites.html",
        status_code=status_code,
        sites=sites,
        errors=errors,
        values=values,
        notice=notice,
    )


@router.get("/sites")
async def sites_page(request: Request, who: Admin, saved: str = "") -> Response:
    notice = "Crisis line saved; the next SMS that names it uses it." if saved else None
    return await _sites_page(request, who, {}, {}, notice)


@router.post("/sites/{code}")
async def site_save(request: Request, who: Admin, code: str) -> Response:
    form = await read_form(request)
    line = " ".join(form_field(form, "crisis_line", 64).split())
    if not CRISIS_LINE.match(line) or len(line) > 32:
        return await _sites_page(
            request,
            who,
            {code: "A number to call or text: digits, spaces, '-', '(', ')', a leading '+'."},
            {code: line},
            None,
            400,
        )
    async with transaction() as session:
        site = await session.get(Site, code, with_for_update=True)
        if site is None:
            return await _sites_page(request, who, {}, {}, "No such site.", 404)
        before, site.crisis_line = site.crisis_line, line
        await audit.record(
            session, who, "site_crisis_line", "site", code, {"before": before, "after": line}
        )
    texts.forget()
    return RedirectResponse(f"{PREFIX}/admin/sites?saved=1", status_code=303)
