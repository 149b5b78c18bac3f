from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render

from hufen.console.access import ConsoleRequest, console_view
from hufen.console.selectors import dealer_owner_counts, dealer_page
from hufen.org.selectors import dealer_get, dealer_list

PAGE_SIZE = 50


@console_view()
def dealer_list_view(request: ConsoleRequest) -> HttpResponse:
    q = " ".join(request.GET.get("q", "").split())[:64]
    paginator = Paginator(dealer_list(actor=request.actor, query=q), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    dealers = list(page.object_list)
    owners = dealer_owner_counts(actor=request.actor, dealer_ids=[d.pk for d in dealers])
    rows = [{"dealer": d, "owners": owners.get(d.pk, 0)} for d in dealers]
    return render(request, "console/dealers/list.html", {"nav": "dealers", "q": q, "page": page, "rows": rows})


@console_view()
def dealer_detail(request: ConsoleRequest, code: str) -> HttpResponse:
    dealer = dealer_get(actor=request.actor, code=code)
    if dealer is None:
        raise Http404("dealer does not exist or is outside your data scope")
    page = dealer_page(actor=request.actor, dealer=dealer)
    return render(request, "console/dealers/detail.html", {"nav": "dealers", "d": page, "dealer": dealer})
