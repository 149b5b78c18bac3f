"""Console pages: funnel builder, double funnel, retention heat map, activity lines; CSV/Excel export."""

from __future__ import annotations

import csv
import glob
import io
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from hufen.analytics import queries as q
from hufen.analytics import selectors as s
from hufen.common.errors import PermissionDenied
from hufen.console.access import ConsoleRequest, console_view
from hufen.tracking.lake import events_glob
from hufen.tracking.services import require_hq

Table = tuple[list[str], list[list[object]]]


def _funnel_table(result: dict[str, Any], label: str = "") -> list[list[object]]:
    rows: list[list[object]] = []
    groups = [("", result["steps"])] + [(b["value"], b["steps"]) for b in result.get("breakdown") or []]
    for value, steps in groups:
        for st in steps:
            rows.append(
                [
                    label,
                    value or _("All"),
                    st["name"],
                    st["count"],
                    st["conversion"],
                    st["step_conversion"],
                    st["median_seconds_from_previous"],
                ]
            )
    return rows


FUNNEL_HEAD = ["funnel", "breakdown", "step", "persons", "conversion", "step conversion", "median seconds"]


def _export(table: Table, fmt: str, name: str) -> HttpResponse:
    head, rows = table
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(head)
        for row in rows:
            ws.append(row)
        buf = io.BytesIO()
        wb.save(buf)
        response = HttpResponse(
            buf.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(head)
        writer.writerows(rows)
        response = HttpResponse("\ufeff" + text.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def lake_is_empty() -> bool:
    """No event file in the lake yet (a fresh install: no import, no demo)."""
    return next(glob.iglob(events_glob(settings.LAKE_URL)), None) is None


def _page(request: ConsoleRequest, kind: str, compute: Callable[[], tuple[dict[str, Any], Table]]) -> HttpResponse:
    if lake_is_empty():
        try:
            s.scope_for(request.actor)
        except s.AnalyticsForbidden:
            return render(
                request, "analytics/page.html", {"nav": "analytics", "kind": kind, "forbidden": True}, status=403
            )
        context = {"nav": "analytics", "kind": kind, "empty_lake": True, "show_dead_letters": _is_hq(request)}
        return render(request, "analytics/page.html", context)
    error = ""
    result: dict[str, Any] = {}
    table: Table = ([], [])
    try:
        result, table = compute()
    except s.AnalyticsInputError as exc:
        error = f"{exc.argument}: {exc.reason}"
    except s.AnalyticsForbidden:
        return render(request, "analytics/page.html", {"nav": "analytics", "kind": kind, "forbidden": True}, status=403)
    fmt = request.GET.get("export", "")
    if fmt in ("csv", "xlsx") and not error:
        return _export(table, fmt, f"hufen-{kind}")
    context = {
        "nav": "analytics",
        "kind": kind,
        "params": request.GET,
        "error": error,
        "result": result,
        "head": table[0],
        "rows": table[1],
        "named": q.NAMED_FUNNELS,
        "periods": q.PERIODS,
        "query": request.GET.urlencode(),
        "show_dead_letters": _is_hq(request),
    }
    return render(request, "analytics/page.html", context, status=422 if error else 200)


def _is_hq(request: ConsoleRequest) -> bool:
    try:
        require_hq(request.actor)
    except PermissionDenied:
        return False
    return True


def _rng(request: ConsoleRequest) -> q.Range:
    return s.parse_range(request.GET.get("from"), request.GET.get("to"))


@console_view()
def funnel_page(request: ConsoleRequest) -> HttpResponse:
    def compute() -> tuple[dict[str, Any], Table]:
        s.scope_for(request.actor)
        g = request.GET
        query = s.FunnelQuery(
            steps=s.parse_steps(g.get("steps", ""), g.get("funnel") or ("acquisition" if not g.get("steps") else None)),
            window_us=s.parse_window(g.get("window", "30d")),
            rng=_rng(request),
            by=s.parse_breakdown(g.get("by", "")),
        )
        result = s.funnel_for(request.actor, query, s.open_engine(g.get("engine")))
        return result, (FUNNEL_HEAD, _funnel_table(result))

    return _page(request, "funnel", compute)


@console_view()
def double_funnel_page(request: ConsoleRequest) -> HttpResponse:
    def compute() -> tuple[dict[str, Any], Table]:
        s.scope_for(request.actor)
        window, rng = s.parse_window(request.GET.get("window", "30d")), _rng(request)
        engine = s.open_engine(request.GET.get("engine"))
        out: dict[str, Any] = {}
        rows: list[list[object]] = []
        for name, steps in q.NAMED_FUNNELS.items():
            out[name] = s.funnel_for(request.actor, s.FunnelQuery(steps, window, rng), engine)
            rows += _funnel_table(out[name], name)
        return out, (FUNNEL_HEAD, rows)

    return _page(request, "double", compute)


@console_view()
def retention_page(request: ConsoleRequest) -> HttpResponse:
    def compute() -> tuple[dict[str, Any], Table]:
        s.scope_for(request.actor)
        g = request.GET
        periods = int(g.get("periods", "12")) if g.get("periods", "12").isdigit() else 0
        result = s.retention_for(
            request.actor,
            start=s.parse_event(g.get("start", "vehicle_delivered"), "start"),
            returning=s.parse_event(g.get("return", "app_active"), "return"),
            period=s.parse_period(g.get("period", "week")),
            periods=periods,
            rng=s.parse_range(g.get("from"), g.get("to"), default_days=84),
            engine=s.open_engine(g.get("engine")),
        )
        head = ["cohort", "size"] + [str(n) for n in range(result["periods"])]
        rows = [[c["cohort"], c["size"], *c["retained"]] for c in result["cohorts"]]
        return result, (head, rows)

    return _page(request, "retention", compute)


@console_view()
def active_page(request: ConsoleRequest) -> HttpResponse:
    def compute() -> tuple[dict[str, Any], Table]:
        s.scope_for(request.actor)
        result = s.active_for(
            request.actor,
            rng=_rng(request),
            engine=s.open_engine(request.GET.get("engine")),
            summary=request.GET.get("summary") == "1",
        )
        head = ["day", "DAU", "WAU", "MAU", "stickiness", "events"]
        rows = [[d["day"], d["dau"], d["wau"], d["mau"], d["stickiness"], d["events"]] for d in result["days"]]
        return result, (head, rows)

    return _page(request, "active", compute)
