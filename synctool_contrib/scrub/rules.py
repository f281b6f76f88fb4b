"""``SYNCTOOL_SCRUB``: parsed once per settings value, compiled once per model.

``transform_object`` runs for every object, so everything that can be
decided once is: the rules are parsed when the settings change (the cache
is keyed on the ``SYNCTOOL_SCRUB`` object and dropped on ``setting_changed``,
so ``override_settings`` just works), and each model label gets, on first
sight, a tuple of ``(field name, scrub function)`` pairs, the "plan" that
the hot loop runs.
Assigning a setting directly (``settings.SYNCTOOL_SCRUB_SECRET = ...``,
no signal) is noticed for ``SYNCTOOL_SCRUB`` only; call
:func:`reset_scrubber` after changing the others that way.
"""

import functools
import threading
from dataclasses import dataclass

from django.apps import apps
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

from synctool.exceptions import ConfigurationError
from synctool.identity import generic_foreign_keys
from synctool_contrib.scrub import fakedata
from synctool_contrib.scrub.conf import settings
from synctool_contrib.scrub.fields import FieldInfo, field_info, serialized_fields
from synctool_contrib.scrub.keys import configured_key, keyed_state, make_hasher
from synctool_contrib.scrub.strategies import (
    OPTION_CHECKS,
    STRATEGIES,
    Strategy,
    build_callable,
    load_callable,
)

WILDCARD = "*"


@dataclass(frozen=True)
class Rule:
    """One field's rule: a strategy name (or dotted path) and its option."""

    strategy: str
    option: object = None
    has_option: bool = False

    def __str__(self) -> str:
        return f"{self.strategy}: {self.option!r}" if self.has_option else self.strategy

    @property
    def builtin(self) -> Strategy | None:
        return STRATEGIES.get(self.strategy)


def parse_rule(raw) -> Rule:
    """A rule from its settings form; raise ConfigurationError when it is wrong."""
    if isinstance(raw, str):
        name, option, has_option = raw, None, False
    elif isinstance(raw, dict) and len(raw) == 1 and isinstance(next(iter(raw)), str):
        ((name, option),) = raw.items()
        has_option = True
    else:
        raise ConfigurationError(
            f"{raw!r} is not a rule: use a strategy name, a dotted path to a callable, "
            "or a one-key dict such as {'const': value} or {'date_shift': 30}"
        )
    strategy = STRATEGIES.get(name)
    if strategy is None:
        if "." not in name:
            raise ConfigurationError(
                f"unknown scrub strategy {name!r}; built-in: {', '.join(STRATEGIES)}, "
                "or a dotted path to a callable"
            )
        if has_option:
            raise ConfigurationError(f"the callable strategy {name!r} takes no option")
        load_callable(name)
        return Rule(name)
    if strategy.option == "none" and has_option:
        raise ConfigurationError(f"the {name!r} strategy takes no option; write it as {name!r}")
    if strategy.option == "required" and not has_option:
        raise ConfigurationError(f"the {name!r} strategy needs a value: {{{name!r}: ...}}")
    if name in OPTION_CHECKS:
        OPTION_CHECKS[name](option)
    return Rule(name, option, has_option)


def iter_settings(scrub):
    """Yield ``(model key, field name, raw rule)``; raise ConfigurationError on bad structure."""
    if not isinstance(scrub, dict):
        raise ConfigurationError(
            "SYNCTOOL_SCRUB must be a dict of {model label: {field name: rule}}"
        )
    for label, fields in scrub.items():
        if not isinstance(label, str) or not (label == WILDCARD or label.count(".") == 1):
            raise ConfigurationError(
                f"SYNCTOOL_SCRUB key {label!r} is not a model label ('app_label.ModelName') or '*'"
            )
        if not isinstance(fields, dict):
            raise ConfigurationError(
                f"SYNCTOOL_SCRUB[{label!r}] must be a dict of {{field name: rule}}"
            )
        for name, raw in fields.items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"SYNCTOOL_SCRUB[{label!r}] has a non-string field name")
            yield label, name, raw


def parse_rules(scrub) -> dict[str, dict[str, Rule]]:
    """``{label in lower case or '*': {field name: Rule}}``."""
    rules: dict[str, dict[str, Rule]] = {}
    for label, name, raw in iter_settings(scrub):
        try:
            rule = parse_rule(raw)
        except ConfigurationError as exc:
            raise ConfigurationError(f"SYNCTOOL_SCRUB[{label!r}][{name!r}]: {exc}") from None
        rules.setdefault(label.lower(), {})[name] = rule
    return rules


def find_rule(rules: dict, model: type[models.Model], name: str) -> Rule | None:
    """The rule of a field: its model's (or concrete model's) first, else '*'."""
    for label in (model._meta.label_lower, model._meta.concrete_model._meta.label_lower):
        rule = rules.get(label, {}).get(name)
        if rule is not None:
            return rule
    return rules.get(WILDCARD, {}).get(name)


def applicability_problem(rule: Rule, info: FieldInfo) -> str | None:
    """Why ``rule`` cannot scrub ``info``'s field, or None when it can."""
    strategy = rule.builtin
    if strategy is None or strategy.name == "keep":
        return None
    if info.kind not in strategy.kinds:
        kind = info.field.__class__.__name__ if info.field is not None else info.kind
        return f"'{strategy.name}' does not apply to fields of type {kind}"
    if strategy.name == "null" and not info.null:
        return "'null' needs a nullable field (null=True)"
    if not info.unique:
        return None
    if not strategy.unique_safe:
        return f"'{strategy.name}' would give equal values to a field that must stay unique"
    if strategy.name == "ip" and info.kind == "ip" and info.protocol == "ipv4":
        return "'ip' on a unique field answers IPv6 addresses, which an ipv4 field refuses"
    if info.max_length is not None and info.max_length < strategy.unique_min_length:
        return (
            f"max_length {info.max_length} is too short for unique '{strategy.name}' values "
            f"(at least {strategy.unique_min_length})"
        )
    return None


def natural_key_fields(model: type[models.Model]) -> tuple[str | None, ...] | None:
    """Which field each component of ``model``'s natural key comes from.

    Found by calling ``natural_key()`` on an unsaved instance whose fields
    hold marker strings; components that are not a plain field are None.
    """
    if not hasattr(model, "natural_key"):
        return None
    markers, values = {}, {}
    for field_ in model._meta.concrete_fields:
        if field_.primary_key or field_.is_relation or isinstance(field_, models.FileField):
            continue
        marker = f"\x00synctool-scrub:{field_.name}\x00"
        markers[marker] = field_.name
        values[field_.attname] = marker
    try:
        key = model(**values).natural_key()
    except Exception:
        return None
    return tuple(markers.get(c) if isinstance(c, str) else None for c in key)


class Context:
    """The key, its fast keyed hash and (lazily, as it needs Faker) the locale."""

    def __init__(self, key: bytes, locale: str | None = None):
        self.key = key
        self.hash = make_hasher(key)
        self.new_state = keyed_state(key)
        self._locale = locale

    @functools.cached_property
    def locale(self) -> str:
        return self._locale or fakedata.configured_locale()


class Scrubber:
    """The compiled rules: one plan per model label, built on first use."""

    def __init__(self, rules: dict[str, dict[str, Rule]], context: Context):
        self.rules = rules
        self.context = context
        self._plans: dict[str, tuple] = {}
        self._functions: dict[type[models.Model], dict] = {}

    def rule_for(self, model: type[models.Model], name: str) -> Rule | None:
        return find_rule(self.rules, model, name)

    def field_rules(self, model: type[models.Model]) -> dict[str, tuple[Rule, FieldInfo]]:
        """The serialized fields of ``model`` that have a rule."""
        result = {}
        for name, field_ in serialized_fields(model).items():
            rule = self.rule_for(model, name)
            if rule is not None:
                result[name] = (rule, field_info(model, field_))
        return result

    def functions(self, model: type[models.Model]) -> dict:
        """``{field name: scrub function}`` for ``model`` ('keep' leaves a field out)."""
        model = model._meta.concrete_model
        cached = self._functions.get(model)
        if cached is not None:
            return cached
        result = {}
        for name, (rule, info) in self.field_rules(model).items():
            problem = applicability_problem(rule, info)
            if problem:
                raise ConfigurationError(f"SYNCTOOL_SCRUB rule for {info.path}: {problem}")
            strategy = rule.builtin
            build = strategy.build if strategy else build_callable(rule.strategy)
            scrub = build(info, rule.option, self.context)
            if scrub is not None:
                result[name] = scrub
        self._functions[model] = result
        return result

    def _key_rewriter(self, target: type[models.Model]):
        """A function scrubbing a natural key of ``target`` as its fields are, or None."""
        positions = natural_key_fields(target)
        if not positions:
            return None
        functions = self.functions(target)
        parts = tuple(functions.get(name) if name else None for name in positions)
        if not any(parts):
            return None

        def rewrite(key):
            if not isinstance(key, list | tuple) or len(key) != len(parts):
                return key  # a primary key, or None
            return type(key)(
                value if scrub is None else scrub(value, None)
                for scrub, value in zip(parts, key, strict=True)
            )

        return rewrite

    def _reference(self, field_: models.Field):
        """A function rewriting natural-key references to scrubbed fields, or None."""
        rewrite = self._key_rewriter(field_.remote_field.model)
        if rewrite is None:
            return None
        if field_.many_to_many:
            return lambda value, obj: None if value is None else [rewrite(k) for k in value]
        return lambda value, obj: rewrite(value)

    def _generic_reference(self, ct_name: str):
        """Rewrites a GenericForeignKey's object id sent as a natural key (of a scrubbed model).

        The object id is a natural key when its model is identified by one
        (a user, say): it is scrubbed exactly as that model's own fields are,
        so it still names the same row on the other side.
        """
        rewriters: dict[tuple, object] = {}

        def rewrite(value, obj):
            content_type = obj["fields"].get(ct_name)
            if not isinstance(value, list) or not isinstance(content_type, list):
                return value
            key = tuple(content_type)
            if key not in rewriters:
                try:
                    target = apps.get_model(*key)
                except (LookupError, ValueError, TypeError):
                    target = None
                rewriters[key] = self._key_rewriter(target) if target is not None else None
            function = rewriters[key]
            return value if function is None else function(value)

        return rewrite

    def build_plan(self, model: type[models.Model]) -> tuple:
        functions = self.functions(model)
        plan = list(functions.items())
        for name, field_ in serialized_fields(model).items():
            if field_.is_relation and name not in functions and not self.rule_for(model, name):
                rewrite = self._reference(field_)
                if rewrite is not None:
                    plan.append((name, rewrite))
        for ct_field, fk_field in generic_foreign_keys(model._meta.concrete_model):
            if fk_field.name not in functions and not self.rule_for(model, fk_field.name):
                plan.append((fk_field.name, self._generic_reference(ct_field.name)))
        return tuple(plan)

    def plan(self, label: str) -> tuple:
        """The ``(field name, scrub function)`` pairs for objects of ``label``."""
        plan = self._plans.get(label)
        if plan is None:
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError):
                plan = ()  # an unknown model: the loader reports it
            else:
                plan = self.build_plan(model)
            self._plans[label] = plan
        return plan


_lock = threading.Lock()
_current: tuple | None = None  # (the SYNCTOOL_SCRUB it was built from, the Scrubber)
WATCHED = {
    "SYNCTOOL_SCRUB",
    "SYNCTOOL_SCRUB_SECRET",
    "SYNCTOOL_SCRUB_LOCALE",
    "SECRET_KEY",
    "LANGUAGE_CODE",
}


def get_scrubber() -> Scrubber:
    """The Scrubber for the current settings.

    Called once per object, so it reads a single setting: the cache is
    dropped when ``SYNCTOOL_SCRUB`` is another object than the one it was
    built from, and when any setting it depends on changes through
    ``override_settings`` (the ``setting_changed`` signal).
    """
    global _current
    scrub = settings.SYNCTOOL_SCRUB
    current = _current
    if current is not None and current[0] is scrub:
        return current[1]
    with _lock:
        scrubber = Scrubber(
            parse_rules(scrub), Context(configured_key(), settings.SYNCTOOL_SCRUB_LOCALE)
        )
        _current = (scrub, scrubber)
    return scrubber


def reset_scrubber() -> None:
    global _current
    _current = None


@receiver(setting_changed)
def _on_setting_changed(setting, **kwargs):
    if setting in WATCHED:
        reset_scrubber()
