import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.server_settings")
application = get_wsgi_application()


def length_required(app, log_path: str):
    """What a proxy that takes no chunked request body does in front of ``app``:
    411 Length Required, one line in ``log_path`` per refusal."""

    def refusing(environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            with open(log_path, "a") as log:
                log.write(environ["PATH_INFO"] + "\n")
            start_response("411 Length Required", [("Content-Type", "text/plain")])
            return [b"Length Required"]
        return app(environ, start_response)

    return refusing


if os.environ.get("SYNCTOOL_E2E_REFUSE_CHUNKED"):
    application = length_required(application, os.environ["SYNCTOOL_E2E_REFUSE_CHUNKED"])
