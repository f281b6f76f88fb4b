"""System checks of synctool_contrib.scrub.

The plugin (in ``SYNCTOOL_PLUGINS``) contributes E101 ... W101 through the
``system_checks`` hook, so they run exactly when it is enabled. E007 is a
Django check of the app (``synctool_contrib.scrub`` in ``INSTALLED_APPS``):
it catches rules set while the plugin is not enabled.

E007  SYNCTOOL_SCRUB or SYNCTOOL_SCRUB_STRICT is set but the scrub plugin is not enabled

E101  SYNCTOOL_SCRUB is malformed (not a dict of {model label: {field: rule}})
E102  a SYNCTOOL_SCRUB rule names a model that is not installed
E103  a SYNCTOOL_SCRUB rule names a field its model does not have (or does not send)
E104  a SYNCTOOL_SCRUB rule is invalid: unknown strategy, bad option, callable that does not import
E105  a strategy cannot scrub its field (field type, not nullable, unique, too short)
E106  SYNCTOOL_SCRUB_SECRET, SYNCTOOL_SCRUB_LOCALE or SYNCTOOL_SCRUB_STRICT has a wrong value
E107  a rule needs Faker, which is not installed
E108  strict mode: a route serves a likely personal field without a rule, and will refuse to serve
W101  a route serves a likely personal field without a rule: it is sent as it is
"""

from django.apps import apps
from django.core.checks import Error, Warning, register

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub import fakedata
from synctool_contrib.scrub.conf import settings
from synctool_contrib.scrub.fields import field_info, inherited_from, serialized_fields
from synctool_contrib.scrub.rules import (
    WILDCARD,
    applicability_problem,
    iter_settings,
    parse_rule,
)

DOCS = "See docs/contrib/scrub.rst."


def _error(message: str, number: int, hint: str = DOCS) -> Error:
    return Error(message, hint=hint, id=f"synctool.E{number}")


def check_settings() -> list:
    errors = []
    secret = settings.SYNCTOOL_SCRUB_SECRET
    if secret is not None and (not isinstance(secret, str | bytes) or not secret):
        errors.append(_error("SYNCTOOL_SCRUB_SECRET should be a non-empty string.", 106))
    elif secret is None and not settings.SECRET_KEY:
        errors.append(_error("synctool scrubbing needs SYNCTOOL_SCRUB_SECRET or SECRET_KEY.", 106))
    if not isinstance(settings.SYNCTOOL_SCRUB_STRICT, bool):
        errors.append(_error("SYNCTOOL_SCRUB_STRICT should be True or False.", 106))
    locale = settings.SYNCTOOL_SCRUB_LOCALE
    if locale is not None:
        try:
            known = fakedata.available_locales()
        except ConfigurationError:
            known = None
        if not isinstance(locale, str) or (known is not None and locale not in known):
            errors.append(
                _error(
                    f"SYNCTOOL_SCRUB_LOCALE {locale!r} is not a Faker locale.",
                    106,
                    hint="Use e.g. 'en_US', 'de_DE' or 'fr_FR', or None to follow LANGUAGE_CODE.",
                )
            )
    return errors


def _models_with(name: str) -> list:
    return [model for model in apps.get_models() if name in serialized_fields(model)]


def _field_errors(label: str, name: str, rule) -> list:
    """E102/E103/E105 for one rule, on one model or (label '*') on every model having it."""
    if label == WILDCARD:
        targets = _models_with(name)
        if not targets:
            return [_error(f"SYNCTOOL_SCRUB['*'] names field {name!r}, which no model has.", 103)]
        # A model's own rule for the field wins over '*'.
        targets = [m for m in targets if not _has_own_rule(m, name)]
    else:
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            return [
                _error(
                    f"SYNCTOOL_SCRUB names model {label!r}, which is not installed.",
                    102,
                    hint="Use 'app_label.ModelName', e.g. 'auth.User'.",
                )
            ]
        if name not in serialized_fields(model):
            parent = inherited_from(model, name)
            if parent is not None:
                hint = f"The field is sent with {parent._meta.label}: put the rule there."
            elif name == model._meta.pk.name:
                hint = "A primary key cannot be scrubbed: foreign keys point at it."
            else:
                choices = ", ".join(serialized_fields(model)) or "none"
                hint = f"Its fields: {choices}."
            return [_error(f"SYNCTOOL_SCRUB[{label!r}] names field {name!r}.", 103, hint)]
        targets = [model]
    errors = []
    for model in targets:
        info = field_info(model, serialized_fields(model)[name])
        problem = applicability_problem(rule, info)
        if problem:
            errors.append(_error(f"SYNCTOOL_SCRUB rule for {info.path}: {problem}.", 105))
    return errors


def _has_own_rule(model, name: str) -> bool:
    scrub = settings.SYNCTOOL_SCRUB
    for label in (model._meta.label_lower, model._meta.concrete_model._meta.label_lower):
        for key, fields in scrub.items():
            if key != WILDCARD and key.lower() == label and name in fields:
                return True
    return False


def check_rules() -> list:
    try:
        entries = list(iter_settings(settings.SYNCTOOL_SCRUB))
    except ConfigurationError as exc:
        return [_error(f"{exc}.", 101)]
    errors = []
    needs_faker = []
    for label, name, raw in entries:
        try:
            rule = parse_rule(raw)
        except ConfigurationError as exc:
            errors.append(_error(f"SYNCTOOL_SCRUB[{label!r}][{name!r}]: {exc}.", 104))
            continue
        if rule.builtin is not None and rule.builtin.needs_faker:
            needs_faker.append(f"{label}.{name}")
        errors.extend(_field_errors(label, name, rule))
    if needs_faker:
        try:
            fakedata.faker_module()
        except ConfigurationError as exc:
            errors.append(
                _error(
                    f"{exc} (rules {', '.join(needs_faker)})",
                    107,
                    hint="Or use strategies that need no Faker: hash, null, blank, const.",
                )
            )
    return errors


def check_served() -> list:
    """W101 (E108 in strict mode): likely personal fields that routes send as they are."""
    from synctool_contrib.scrub.report import missing_rules, served_models
    from synctool_contrib.scrub.rules import parse_rules

    try:
        rules = parse_rules(settings.SYNCTOOL_SCRUB)
    except ConfigurationError:
        return []  # reported by check_rules
    served, _ = served_models(call_functions=False)
    messages = []
    strict = settings.SYNCTOOL_SCRUB_STRICT is True
    for line in missing_rules(served, rules):
        routes = ", ".join(repr(path) for path in served[apps.get_model(line.label)])
        text = f"{line.label}.{line.name} looks like {line.personal}, is served by {routes}"
        hint = (
            f"Add a rule to SYNCTOOL_SCRUB[{line.label!r}][{line.name!r}] "
            "(or 'keep' to send it as it is)."
        )
        if strict:
            messages.append(
                Error(
                    f"{text} and has no scrub rule: strict mode refuses to serve it.",
                    hint=hint,
                    id="synctool.E108",
                )
            )
        else:
            messages.append(
                Warning(
                    f"{text} and has no scrub rule: it is sent as it is.",
                    hint=hint,
                    id="synctool.W101",
                )
            )
    return messages


def run_checks(app_configs=None, **kwargs) -> list:
    """Every scrub check; synctool calls it as the plugin's ``synctool_checks``."""
    return [*check_settings(), *check_rules(), *check_served()]


@register()
def check_plugin_enabled(app_configs=None, **kwargs) -> list:
    """E007: rules or strict mode set, but the plugin is not in SYNCTOOL_PLUGINS."""
    from synctool.checks import serves_routes
    from synctool_contrib.scrub.strict import PLUGIN, plugin_enabled

    if not (settings.SYNCTOOL_SCRUB or settings.SYNCTOOL_SCRUB_STRICT):
        return []
    try:
        enabled = plugin_enabled()
    except Exception:  # noqa: BLE001 - the plugin manager's own check reports it
        return []
    if enabled or not serves_routes():
        # A laptop sharing the server's settings without its token serves
        # nothing: no unscrubbed row can leave it.
        return []
    return [
        Error(
            "SYNCTOOL_SCRUB or SYNCTOOL_SCRUB_STRICT is set and routes are served, but the "
            "scrub plugin is not enabled: nothing would be scrubbed or refused.",
            hint=f"Add {PLUGIN!r} to SYNCTOOL_PLUGINS (on the server; scrubbing there is "
            "what keeps personal data in production).",
            id="synctool.E007",
        )
    ]
