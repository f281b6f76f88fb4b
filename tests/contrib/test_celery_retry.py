"""Which failed syncs the Celery task tries again (synctool_contrib.celery.retry):
only those that committed nothing and whose cause may pass. Plain Python: it
needs neither Celery nor a worker."""

import pytest

from synctool import exceptions
from synctool_contrib.celery.retry import retry_is_safe


@pytest.mark.parametrize(
    ("error", "safe"),
    [
        (exceptions.SyncLocked("another sync into database 'default' is running"), True),
        (exceptions.ServerUnreachable("could not reach https://example.com/sync/"), True),
        (exceptions.ServerUnavailable("https://example.com/sync/ answered HTTP 503"), True),
        (exceptions.ServerError("https://example.com/sync/ answered HTTP 500"), False),
        (exceptions.SchemaMismatch("blog.post: this database lacks a migration"), False),
        (exceptions.ConfigurationError("no server URL"), False),
        (exceptions.AuthenticationFailed("refused this token"), False),
        (exceptions.RouteNotFound("no synctool route there"), False),
        (exceptions.IncompleteResponse("the body was cut"), False),
        (exceptions.LoadError("the database refused the data"), False),
        (KeyboardInterrupt(), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_only_passing_causes_are_retried(error, safe):
    assert retry_is_safe(error) is safe


def test_nothing_is_retried_after_the_commit():
    error = exceptions.ServerUnreachable("the media server went away")
    error.committed = True
    assert retry_is_safe(error) is False
