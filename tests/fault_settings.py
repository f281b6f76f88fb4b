"""Settings of the fault-injection server (tests/fault_server.py): the e2e
server's settings, plus a login-protected copy of the routes and verbose logs.

Started by ``fault_server.start()`` through gunicorn's ``--env``, since
``start_server()`` always names ``tests.server_settings``.
"""

from tests.server_settings import *  # noqa: F403

ROOT_URLCONF = "tests.fault_server"
SYNCTOOL_PLUGINS = [*SYNCTOOL_PLUGINS, "tests.fault_server"]  # noqa: F405
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
LOGIN_URL = "/accounts/login/"
# Everything Django and synctool log, on the server's stderr (the gunicorn log).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "DEBUG"},
}
