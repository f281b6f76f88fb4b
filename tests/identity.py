"""Make two databases disagree on identities, as any production and laptop do."""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType


def migrate_differently(using: str = "default") -> None:
    """Recreate every content type and permission of ``using`` in another order.

    As if its apps had been migrated in the reverse order: no content type
    or permission keeps the id it has on the other database.
    """
    existing = list(ContentType.objects.using(using).order_by("-pk"))
    Permission.objects.using(using).all().delete()
    ContentType.objects.using(using).all().delete()
    # A gap first, then the reverse order: every id differs from the other side's.
    placeholder = ContentType.objects.using(using).create(app_label="gone", model="gone")
    for ct in existing:
        ContentType.objects.using(using).create(app_label=ct.app_label, model=ct.model)
    placeholder.delete(using=using)
    ContentType.objects.clear_cache()
    for config in reversed(list(apps.get_app_configs())):
        create_permissions(config, verbosity=0, using=using)


def ids(using: str):
    """(content type ids, permission ids) by natural key, to assert they differ."""
    cts = {(ct.app_label, ct.model): ct.pk for ct in ContentType.objects.using(using).all()}
    perms = {
        (p.codename, p.content_type.app_label, p.content_type.model): p.pk
        for p in Permission.objects.using(using).select_related("content_type")
    }
    return cts, perms
