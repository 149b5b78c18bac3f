import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")
_django = get_wsgi_application()

from hufen.memberday.middleware import CheckInWSGILane  # noqa: E402  (needs the settings above)

# Member Day's check-ins are answered before Django's handler; everything else is Django's.
application = CheckInWSGILane(_django)
