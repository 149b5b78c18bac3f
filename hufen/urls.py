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
    path("console/", include("hufen.console.urls")),
]
