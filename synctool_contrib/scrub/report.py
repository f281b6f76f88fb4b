"""What the routes serve, field by field: the rule applied, and the likely
personal fields that have none. Shared by strict mode, the system checks
and ``manage.py synctool_scrub_report``."""

import contextlib
from dataclasses import dataclass

from django.apps import apps
from django.db import models

from synctool_contrib.scrub.fields import serialized_fields
from synctool_contrib.scrub.personal import personal_fields
from synctool_contrib.scrub.rules import Rule, find_rule


@dataclass(frozen=True)
class FieldLine:
    label: str
    name: str
    type: str
    rule: Rule | None
    personal: str | None  # why it looks personal, or None

    @property
    def missing(self) -> bool:
        """A likely personal field without a rule: sent as it is."""
        return self.personal is not None and self.rule is None


def field_lines(model: type[models.Model], rules: dict) -> list[FieldLine]:
    personal = personal_fields(model)
    return [
        FieldLine(
            label=model._meta.label_lower,
            name=name,
            type=field.__class__.__name__,
            rule=find_rule(rules, model, name),
            personal=personal.get(name),
        )
        for name, field in serialized_fields(model).items()
    ]


def missing_rules(model_list, rules: dict, enabled: bool = True) -> list[FieldLine]:
    """The likely personal fields of ``model_list`` that leave unscrubbed.

    With ``enabled=False`` (the scrub plugin is not registered) no rule is
    applied, so every likely personal field counts.
    """
    result = []
    for model in dict.fromkeys(model_list):
        for line in field_lines(model, rules):
            if line.personal is not None and (line.rule is None or not enabled):
                result.append(line)
    return result


def _load_urlconf() -> None:
    """Import the URLconf so that the Route objects it builds exist."""
    from django.urls import get_resolver

    # Django's own URL checks report a URLconf that fails to import.
    with contextlib.suppress(Exception):
        get_resolver().url_patterns  # noqa: B018 - evaluated for its import side effect


def served_models(*, call_functions: bool = True):
    """``({model: [route paths]}, [paths whose models are unknown])``.

    App and model routes are read from their labels; queryset routes are
    asked for their models (their function is called, without URL
    arguments) only when ``call_functions`` is true.
    """
    from synctool.server.routing import all_routes

    _load_urlconf()
    served: dict[type[models.Model], list[str]] = {}
    unknown: list[str] = []
    for route in all_routes():
        for entry in route.entries:
            try:
                if entry.kind != "queryset":
                    found = entry.models()
                elif call_functions:
                    labels = entry.manifest_models()
                    found = None if labels is None else [apps.get_model(x) for x in labels]
                else:
                    found = None
            except Exception:
                found = None
            if found is None:
                unknown.append(entry.path)
                continue
            for model in with_models_inside(found):
                paths = served.setdefault(model._meta.concrete_model, [])
                if entry.path not in paths:
                    paths.append(entry.path)
    return served, list(dict.fromkeys(unknown))


def with_models_inside(found) -> list[type[models.Model]]:
    """``found`` and the models whose objects its rows hold (the models
    registered with django-reversion, when its versions are served): their
    fields travel inside the versions, scrubbed by their own rules."""
    from synctool.embedded import models_inside

    result = list(found)
    for model in found:
        result += [inner for inner in models_inside(model) if inner not in result]
    return result
