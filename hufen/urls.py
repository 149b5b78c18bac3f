from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path


def root(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/console/")


urlpatterns = [
    path("", root),
    path("i18n/", include("django.conf.urls.i18n")),
]
