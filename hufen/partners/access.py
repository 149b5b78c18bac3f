"""Who may use the merchant page (/merchant/), and the actor its views work as.

`merchant_view` is the gate: anonymous users go to the merchant login, logged-in users who are not
an active merchant operator linked to a merchant get a "no merchant access" page (403). Merchant
operators never get the console (console_view refuses their role), and console staff never get here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control

from hufen.common.actors import Actor
from hufen.common.errors import NotFound, PermissionDenied
from hufen.partners.carkey import merchant_for_operator
from hufen.partners.models import Merchant
from hufen.partners.selectors import merchant_actor_for_user

P = ParamSpec("P")


class MerchantRequest(HttpRequest):
    actor: Actor
    merchant: Merchant


MerchantView = Callable[Concatenate[MerchantRequest, P], HttpResponseBase]
DjangoView = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def merchant_view(view: MerchantView[P]) -> DjangoView[P]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("merchant:login"))
        actor = merchant_actor_for_user(request.user)
        response: HttpResponseBase
        if actor is None or actor.merchant_id is None:
            response = render(request, "partners/merchant/no_access.html", status=403)
        else:
            try:
                merchant = merchant_for_operator(actor)  # suspended merchants are refused here too
            except (PermissionDenied, NotFound) as exc:
                context = {"reason": exc.message}
                response = render(request, "partners/merchant/no_access.html", context, status=403)
            else:
                mrequest: MerchantRequest = request  # type: ignore[assignment]
                mrequest.actor = actor
                mrequest.merchant = merchant
                response = view(mrequest, *args, **kwargs)
        patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapper
