"""The hook specifications of synctool.

Plugins implement them with ``from synctool import hookimpl``. Hooks are
always called with keyword arguments, and an implementation may accept
fewer arguments than the specification lists.
"""

import pluggy

PROJECT_NAME = "synctool"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def refuse_route(path, models, request):
    """Decide, on the server, whether a route may be served to this request.

    Called after the token is checked and before the first byte is sent.

    :param path: the route's URL regex.
    :param models: the model classes the route would serve, in load order.
    :param request: the ``HttpRequest``.
    :returns: a message (a string) to refuse with HTTP 403 and that message,
        or ``None`` to serve. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def pre_clean(model, queryset, using):
    """Choose the local rows of ``model`` that ``clean`` deletes.

    Called once per model of the route, in reverse dependency order, inside
    the sync's transaction, before the rows are deleted.

    :param model: the model class about to be cleaned.
    :param queryset: the rows that would be deleted (all rows of the model
        on the ``using`` database).
    :param using: the database alias being synced into.
    :returns: a queryset of the same model to delete instead (for example
        ``queryset.exclude(is_superuser=True)``), or ``None`` to keep the
        default. Stops at the first non-None result.
    """


@hookspec
def transform_object(obj, side):
    """Change or drop one serialized object.

    Called for every object, on the server before it is written to the
    response (``side="server"``) and on the client before it is saved
    (``side="client"``).

    :param obj: a dict ``{"model": "app.model", "pk": ..., "fields": {...}}``;
        mutate it in place.
    :param side: ``"server"`` or ``"client"``.
    :returns: ``False`` to drop the object; any other value keeps it.
    """


@hookspec
def post_save(model, instances, using):
    """Run after a batch of objects of one model has been written.

    Called inside the sync's transaction: raising rolls the whole sync back.

    :param model: the model class of the batch.
    :param instances: the list of instances just written.
    :param using: the database alias being synced into.
    :returns: ignored.
    """


@hookspec(firstresult=True)
def fetch_media(name, url, storage, field):
    """Download one media file into a storage.

    :param name: the file name as stored in the field (relative to the storage).
    :param url: the full URL of the file on the server, or ``None`` when no
        media URL is configured (only possible when a plugin other than the
        built-in HTTP download implements this hook).
    :param storage: the Django storage the file must be written to.
    :param field: the ``FileField`` or ``ImageField`` the file belongs to.
    :returns: ``True`` when this implementation wrote the file. Stops at the
        first non-None result; the built-in HTTP implementation runs last.
    """


@hookspec(firstresult=True)
def reset_sequences(connection, models):
    """Reset the primary-key sequences of ``models`` after a sync.

    :param connection: the Django database connection synced into.
    :param models: the model classes whose rows were written or cleaned.
    :returns: ``True`` when this implementation handled the backend; ``None``
        to let the next one try. Stops at the first non-None result.
    """
