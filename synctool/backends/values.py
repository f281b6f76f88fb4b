"""Values made ready for a database driver, for the paths that bypass Django's insert.

Each column's values go through the field's own ``get_db_prep_save()``,
skipped only where the driver takes the value as it is (the field's
``driver_ready`` trait, :data:`synctool.meta.FIELD_TRAITS`) and, with
``USE_TZ`` on a driver that takes aware datetimes (PostgreSQL), for aware
datetimes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings as django_settings
from django.db import models

from synctool.meta import traits


def keeps_aware_datetimes(connection) -> bool:
    """Whether ``get_db_prep_save()`` of a DateTimeField returns an aware datetime unchanged.

    True with ``USE_TZ`` on backends whose driver takes datetimes as they
    are (PostgreSQL); SQLite and MySQL turn them into strings or naive values.
    """
    sample = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    return django_settings.USE_TZ and connection.ops.adapt_datetimefield_value(sample) is sample


def field_preparer(field: models.Field, connection) -> Callable | None:
    """What makes one column's values ready for the driver; None when they already are."""
    if traits(field).driver_ready:
        return None
    to_db = field.get_db_prep_save
    if type(field) is models.DateTimeField and keeps_aware_datetimes(connection):
        datetime_type = datetime.datetime

        def prepare_datetime(value):
            # An aware datetime is what get_db_prep_save() would return anyway.
            if type(value) is datetime_type and value.utcoffset() is not None:
                return value
            return to_db(value, connection)

        return prepare_datetime
    return lambda value: to_db(value, connection)


def prepared_rows(fields, rows: Iterable[list], connection) -> Iterator[list]:
    """Each row's values ready for the driver (prepared only where needed)."""
    preparers = [
        (index, preparer)
        for index, field in enumerate(fields)
        if (preparer := field_preparer(field, connection)) is not None
    ]
    for row in rows:
        if preparers:
            row = list(row)
            for index, prepare in preparers:
                row[index] = prepare(row[index])
        yield row
