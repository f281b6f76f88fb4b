"""``manage.py cms_digest``: every row of the CMS by identity, as JSON.

Rows of models identified by natural key are keyed by it; references to
them (foreign keys, many-to-many, generic object ids) are shown as natural
keys; everything else by primary key. Two databases with the same content
give the same output whatever their ids."""

import json

from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from synctool.identity import key_identified_labels, model_label

VERSION = "reversion.version"


class Command(BaseCommand):
    help = "Print every row of the project by identity, as JSON."

    def handle(self, *args, **options):
        key_identified = key_identified_labels()

        def identity(model, pk):
            if pk is None:
                return None
            model = model._meta.concrete_model
            if model_label(model) in key_identified:
                row = model._base_manager.filter(pk=pk).first()
                return None if row is None else list(row.natural_key())
            return pk

        def fixture(text):
            """A django-reversion version's objects, their ids by identity."""
            objects = json.loads(text)
            for obj in objects:
                model = apps.get_model(obj["model"])
                fields = obj["fields"]
                generic = {
                    f.fk_field: f.ct_field
                    for f in model._meta.private_fields
                    if isinstance(f, GenericForeignKey)
                }
                for fk_name, ct_name in generic.items():
                    target = ContentType.objects.get_for_id(fields[ct_name]).model_class()
                    object_id = target._meta.pk.to_python(fields[fk_name])
                    fields[fk_name] = identity(target, object_id)
                obj["pk"] = identity(model, obj.get("pk"))
                for name, value in fields.items():
                    field = model._meta.get_field(name)
                    if field.many_to_many:
                        fields[name] = sorted(
                            json.dumps(identity(field.related_model, pk)) for pk in value
                        )
                    elif field.is_relation:
                        fields[name] = identity(field.related_model, value)
            return objects

        result = {}
        for model in apps.get_models():
            if model._meta.proxy or model._meta.app_label in ("sessions", "admin", "synctool"):
                continue
            by_key = model_label(model) in key_identified
            rows = {}
            generic = [
                (f.ct_field, f.fk_field)
                for f in model._meta.private_fields
                if isinstance(f, GenericForeignKey)
            ]
            for obj in model._base_manager.order_by("pk"):
                row = {}
                for field in model._meta.concrete_fields:
                    if field.primary_key and not field.is_relation:
                        continue
                    value = getattr(obj, field.attname)
                    if field.is_relation:
                        value = identity(field.related_model, value)
                    elif isinstance(field, models.FileField):
                        value = value.name
                    elif field.name == "serialized_data" and model_label(model) == VERSION:
                        value = fixture(value)
                    row[field.name] = value
                for field in model._meta.many_to_many:
                    if field.remote_field.through._meta.auto_created:
                        row[field.name] = sorted(
                            json.dumps(identity(field.related_model, pk), cls=DjangoJSONEncoder)
                            for pk in getattr(obj, field.name).values_list("pk", flat=True)
                        )
                for ct_name, fk_name in generic:
                    content_type = getattr(obj, ct_name)
                    target = content_type.model_class()
                    row[fk_name] = identity(
                        target, target._meta.pk.to_python(getattr(obj, fk_name))
                    )
                key = obj.natural_key() if by_key else obj.pk
                rows[json.dumps(key, cls=DjangoJSONEncoder)] = row
            result[model._meta.label_lower] = rows
        self.stdout.write(json.dumps(result, cls=DjangoJSONEncoder, sort_keys=True))
