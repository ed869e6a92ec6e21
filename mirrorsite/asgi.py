"""ASGI entry point (used by ASGI servers such as uvicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mirrorsite.settings")

application = get_asgi_application()
