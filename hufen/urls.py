from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path

from hufen.api.main import api


def root(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/console/")


urlpatterns = [
    path("", root),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("console/analytics/", include("hufen.analytics.urls")),
    path("console/membership/", include("hufen.membership.urls")),
    path("console/identity/", include("hufen.identity.urls")),
    path("console/sms/", include("hufen.portal.console_urls")),
    path("console/memberday/", include("hufen.memberday.urls")),
    path("console/partners/", include("hufen.partners.console_urls")),
    path("console/", include("hufen.console.urls")),
    path("merchant/", include("hufen.partners.merchant_urls")),
    path("m/memberday/", include("hufen.memberday.urls_portal")),
    path("m/perks/", include("hufen.partners.portal_urls")),
    path("m/", include("hufen.portal.urls")),
]
