"""Settings of example/click_sync.py when tests/test_examples.py runs it: the
end-to-end server's settings (database from SYNCTOOL_E2E_DATABASE, the test
client database here) plus the client token, as a project would set it."""

from tests.server_settings import *  # noqa: F403

SYNCTOOL_CLIENT_TOKEN = SYNCTOOL_API_TOKEN  # noqa: F405
