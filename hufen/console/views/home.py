from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from hufen.console.access import ConsoleRequest, console_view
from hufen.console.selectors import home_figures_cached


@console_view()
def home(request: ConsoleRequest) -> HttpResponse:
    figures, as_of = home_figures_cached(actor=request.actor)
    charts = {
        "by_brand": [{"name": r["brand"], "value": r["count"]} for r in figures.vehicles_by_brand],
        "by_series": [
            {"name": r["series"], "brand": r["brand"], "value": r["count"]} for r in figures.vehicles_by_series[:15]
        ],
        "by_month": figures.new_owners_by_month,
    }
    context = {"nav": "home", "figures": figures, "charts": charts, "as_of": as_of}
    return render(request, "console/home.html", context)
