"""Subsets that carry what they need: a route's rows, the children it follows,
and every row they reference (their parents), computed by the database.

A route's querysets are its **own** rows. ``follow=["orders",
"orders__items"]`` adds the rows of reverse relations of those rows (their
**children**, also the route's own). Then every foreign key, one-to-one
(multi-table parents included) and automatic many-to-many of those rows
brings the rows it points to (their **parents**), recursively, so that the
body loads into an empty database; a generic relation (a comment on an
order) brings its object, found per content type among the rows; an id in
a Wagtail value (a chooser, a rich text link) brings the row it names, as
Wagtail's reference index lists it (:mod:`synctool.server.references`); and
a row whose model has multi-table children (``Book(Product)``,
django-polymorphic's types, Wagtail's page types) brings its child row,
whose references then come too.

Every set is built in the database, as subqueries
(``pk__in=child.values(fk)``); the keys pulled into Python are those of
sliced querysets (MySQL/MariaDB refuse ``LIMIT`` inside ``IN``; a slice is
small by nature) and of the rows that came as parents or children, once
each, as each model is visited: on SQLite always, elsewhere for a set of at
most ``FREEZE_LIMIT`` rows and between two passes (see ``Subset._freeze``).
Models are visited children first, each once; a self reference (a
category's ancestors) is followed in one recursive query (a common table
expression); a cycle between models (A points to B, B to A), or rows that
name rows of any model (generic relations, Wagtail's references), are
passed over again until nothing grows. The result: the own querysets as they were
given, and per model one queryset of the rows that came only as parents or
children (ordered by primary key, excluding the own rows).
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connections, models
from django.db.models import Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Lower, Replace, Substr

from synctool.exceptions import ConfigurationError
from synctool.identity import generic_foreign_keys
from synctool.meta import auto_many_to_many, content_types_of, key_field, sort_models, subtypes
from synctool.server.references import index_rows, is_indexed

# Each pass after the first adds rows not in the set yet, so the passes end;
# a chain of references (an article naming the one before, which names the
# one before...) takes a pass per link. A bound all the same.
MAX_ROUNDS = 1000
# A set of at most this many rows that came as parents is listed by its keys
# when its model is visited (see Subset._freeze): SQLite's always are.
FREEZE_LIMIT = 20_000
# Made by the client when missing (see synctool.client.identity): a subset
# does not bring them. Permissions are brought: production may hold some a
# laptop's migrations never made (stale ones, or of apps it lacks), and one
# of them in a group the subset brings would not resolve.
NOT_BROUGHT = ("contenttypes.contenttype",)


def _concrete(model: type[models.Model]) -> type[models.Model]:
    return model._meta.concrete_model


def forward_references(model: type[models.Model]) -> list[tuple[models.Field, type[models.Model]]]:
    """``(field, target model)`` of every foreign key and one-to-one of ``model``
    (a multi-table child's link to its parent included; the fields it
    inherits are its parent's to follow, in the parent's table), and of its
    automatic many-to-many fields."""
    found = [
        (f, _concrete(f.related_model))
        for f in model._meta.local_concrete_fields
        if f.is_relation and f.related_model is not None
    ]
    found += [(f, _concrete(f.related_model)) for f in auto_many_to_many(model)]
    return found


def brought(target: type[models.Model]) -> bool:
    """Whether a subset brings rows of ``target`` as parents (see ``NOT_BROUGHT``)."""
    return str(target._meta) not in NOT_BROUGHT


def local_generic_relations(model: type[models.Model]) -> list[tuple[models.Field, models.Field]]:
    """``(content type field, object id field)`` of the generic relations in
    ``model``'s own table (a multi-table child's inherited ones are its
    parent's to follow)."""
    return [(ct, fk) for ct, fk in generic_foreign_keys(model) if ct.model is _concrete(model)]


def object_keys(rows: models.QuerySet, id_field: models.Field, target: type[models.Model]):
    """The object ids of ``rows`` (whose content type is ``target``'s) as a
    subquery of ``target``'s primary keys: a text object id (django-comments'
    ``object_pk``, Wagtail's log entries) is cast to a numeric or UUID key,
    and an id that is no such key is left out rather than fail the cast."""
    key = key_field(target)
    rows = rows.order_by()
    column = id_field.attname
    if _same_kind(key, id_field):
        return rows.values(column)
    if isinstance(key, models.IntegerField):
        rows = rows.filter(**{f"{column}__regex": r"^[0-9]+$"})
        cast = Cast(column, output_field=models.BigIntegerField())
    elif isinstance(key, models.UUIDField):
        rows = rows.filter(**{f"{column}__regex": r"^[0-9a-fA-F-]{32,36}$"})
        if connections[rows.db].features.has_native_uuid_field:
            cast = Cast(column, output_field=models.UUIDField())
        else:  # stored as 32 hex digits; an object id holds the usual spelling
            cast = Lower(Replace(column, Value("-"), Value("")))
    elif isinstance(key, TEXT_FIELDS):
        cast = Cast(column, output_field=models.TextField())
    else:
        cast = Cast(column, output_field=type(key)())
    return rows.annotate(synctool_object_key=cast).values("synctool_object_key")


TEXT_FIELDS = (models.CharField, models.TextField)


def _same_kind(key: models.Field, id_field: models.Field) -> bool:
    """Whether an object id compares with the key as it is stored."""
    if isinstance(key, models.IntegerField) and isinstance(id_field, models.IntegerField):
        return True
    if isinstance(key, TEXT_FIELDS) and isinstance(id_field, TEXT_FIELDS):
        return True
    return type(key) is type(id_field)


def generic_children(parents: models.QuerySet, relation, db: str) -> models.QuerySet:
    """The keys of the rows of ``relation`` (a ``GenericRelation``) pointing at
    ``parents``: their content type is the parents' model's or one of its
    multi-table children's (a blog page is tagged as a blog page, and is a
    page), their object id a parent's key (cast to the id's type)."""
    model = _concrete(parents.model)
    content_types = content_types_of([model, *descendant_types(model)], db)
    child = relation.related_model
    id_field = child._meta.get_field(relation.object_id_field_name)
    key = key_field(model)
    keys = parents.order_by()
    if _same_kind(key, id_field):
        keys = keys.values("pk")
    else:
        kind = models.TextField() if isinstance(id_field, TEXT_FIELDS) else type(id_field)()
        keys = keys.annotate(synctool_object_id=Cast("pk", output_field=kind))
        keys = keys.values("synctool_object_id")
    return (
        child._base_manager.db_manager(db)
        .filter(
            **{
                f"{relation.content_type_field_name}__in": content_types.values("pk"),
                f"{relation.object_id_field_name}__in": keys,
            }
        )
        .order_by()
        .values("pk")
    )


def descendant_types(model: type[models.Model]) -> list[type[models.Model]]:
    """Every installed multi-table child of ``model``, their children included."""
    found = []
    for child, _link in subtypes(model):
        found += [child, *descendant_types(child)]
    return found


def is_materialized_path_tree(model: type[models.Model]) -> bool:
    """Whether ``model`` is the table of a django-treebeard ``MP_Node`` tree
    (whose ``path`` holds its ancestors' paths as prefixes)."""
    try:
        from treebeard.mp_tree import MP_Node
    except ImportError:
        return False
    # A multi-table child of such a model is not: the tree is its parent's table.
    return issubclass(model, MP_Node) and "path" in {
        f.name for f in model._meta.local_concrete_fields
    }


def parent_models(own: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """The models rows of ``own`` may bring as parents (not in ``own``), in load
    order: what they reference, and the multi-table children of those rows."""
    own = {_concrete(model) for model in own}
    seen: set[type[models.Model]] = set()
    pending = list(own)
    while pending:
        model = pending.pop()
        related = [target for _field, target in forward_references(model)]
        related += [child for child, _link in subtypes(model)]
        for target in related:
            if target not in own and target not in seen and brought(target):
                seen.add(target)
                pending.append(target)
    return sort_models(seen)


@dataclass(frozen=True)
class Step:
    """One followed reverse relation: ``child.<fk>`` points to ``parent``; or
    ``fk`` is a ``GenericRelation`` of ``parent`` (django-taggit's
    ``tagged_items``, a ``comments`` relation) whose ``child`` rows point
    at ``parent``'s rows by content type and object id."""

    parent: type[models.Model]
    child: type[models.Model]
    fk: models.Field

    @property
    def generic(self) -> bool:
        return _is_generic_relation(self.fk)


def _is_generic_relation(field) -> bool:
    if not apps.is_installed("django.contrib.contenttypes"):
        return False
    from django.contrib.contenttypes.fields import GenericRelation

    return isinstance(field, GenericRelation)


def resolve_follow(own: list[type[models.Model]], follow: Iterable[str]) -> list[Step]:
    """The steps of ``follow`` paths (``"orders"``, ``"orders__items"``) from the own models.

    Raises ConfigurationError naming a path no own model has.
    """
    steps: list[Step] = []
    for path in follow:
        starts = list(own)
        for name in path.split("__"):
            matches = []
            for model in starts:
                relation = _reverse_relation(model, name)
                if relation is not None:
                    child, field = relation
                    matches.append(Step(_concrete(model), _concrete(child), field))
            if not matches:
                names = sorted({n for m in starts for n in _reverse_names(m)})
                raise ConfigurationError(
                    f"follow={path!r}: {', '.join(m._meta.label for m in starts)} "
                    f"has no reverse relation {name!r} (it has: {', '.join(names) or 'none'})"
                )
            for step in matches:
                if step not in steps:
                    steps.append(step)
            starts = [step.child for step in matches]
    return steps


def _reverse_relations(model: type[models.Model]) -> list:
    """The reverse relations of ``model`` and its generic relations (a
    ``GenericRelation`` is declared on the model its rows point at)."""
    return [
        f
        for f in model._meta.get_fields(include_hidden=False)
        if (f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one))
        or _is_generic_relation(f)
    ]


def _accessor_name(relation) -> str:
    if _is_generic_relation(relation):
        return relation.name
    return relation.get_accessor_name() or relation.name


def _reverse_names(model: type[models.Model]) -> list[str]:
    return [_accessor_name(relation) for relation in _reverse_relations(model)]


def _reverse_relation(model: type[models.Model], name: str):
    """``(child model, field)`` of the relation ``name`` of ``model``, or None."""
    for relation in _reverse_relations(model):
        if name in (relation.name, _accessor_name(relation)):
            field = relation if _is_generic_relation(relation) else relation.field
            return relation.related_model, field
    return None


@dataclass
class _Members:
    """The rows of one model in the subset: a union of ``(lookup, subquery)``."""

    model: type[models.Model]
    db: str = "default"
    own: list[models.QuerySet] = field(default_factory=list)
    added: list[tuple[str, object]] = field(default_factory=list)
    whole_table: bool = False
    # Counts what was added (the set's version); the version when its
    # ancestors (a self reference) were last added, and when its references
    # were last taken (a later pass skips it when nothing came since).
    version: int = 0
    ancestors_at: int = -1
    taken_at: int = -1
    frozen_at: int = -1  # SQLite: the version its keys were last listed at

    @property
    def has_rows(self) -> bool:
        """Whether any row of this model may be in the set."""
        return self.whole_table or bool(self.own or self.added)

    @property
    def manager(self):
        return self.model._base_manager.db_manager(self.db)

    def own_q(self) -> Q | None:
        parts = [Q(pk__in=_keys(qs)) for qs in self.own]
        return functools.reduce(operator.or_, parts) if parts else None

    def added_q(self) -> Q | None:
        parts = [Q(**{f"{lookup}__in": values}) for lookup, values in self.added]
        return functools.reduce(operator.or_, parts) if parts else None

    def all(self) -> models.QuerySet:
        """Every row of this model in the subset."""
        manager = self.manager
        if self.whole_table:
            return manager.all()
        if not self.added and len(self.own) == 1 and _plain(self.own[0], self.model):
            # The route's own filter, as it is: "pk IN (the same table,
            # filtered)" would make the database join the table to itself.
            return self.own[0].order_by()
        parts = [q for q in (self.own_q(), self.added_q()) if q is not None]
        if not parts:
            return manager.none()
        return manager.filter(functools.reduce(operator.or_, parts))

    def extra(self) -> models.QuerySet | None:
        """The rows that are not own rows (parents and followed children), or None."""
        if self.whole_table or not self.added:
            return None
        queryset = self.manager.filter(self.added_q())
        own = self.own_q()
        if own is not None:
            queryset = queryset.exclude(own)
        return queryset.order_by("pk")


def _keys(queryset: models.QuerySet):
    """The primary keys of ``queryset`` as a subquery (a list for a sliced one)."""
    values = queryset.order_by().values("pk") if not queryset.query.is_sliced else None
    if values is None:
        return list(queryset.values_list("pk", flat=True))
    return values


def _plain(queryset: models.QuerySet, model: type[models.Model]) -> bool:
    """Whether ``queryset`` is rows of ``model``'s table filtered, nothing
    more: no slice, union, distinct, grouping, annotation or chosen columns
    that a further filter or ``values()`` would change."""
    query = queryset.query
    return (
        _concrete(queryset.model) is model
        and not query.is_sliced
        and not query.combinator
        and not query.distinct
        and not query.annotations
        and not query.values_select
        and not query.extra
        and query.group_by is None
        and queryset._result_cache is None
    )


def _json_key(value):
    """A key as stored, as JSON holds it: SQLite compares it with the column's
    affinity (a decimal or a date as text)."""
    return value if isinstance(value, int | float | str) else str(value)


def _is_whole_table(queryset: models.QuerySet) -> bool:
    query = queryset.query
    return not query.where and not query.is_sliced and queryset._result_cache is None


class Subset:
    """The rows of a route's querysets, their followed children and their parents.

    ``Subset(querysets, follow).querysets()`` is what the route streams;
    :attr:`own_labels` the models whose rows the route itself chose (own
    querysets and followed children), :attr:`parent_labels` the models
    that came only as parents.
    """

    def __init__(
        self, querysets: list[models.QuerySet], follow: Iterable[str] = (), *, parents: bool = True
    ):
        self.given = list(querysets)
        # The route's database: parents are read where its rows are.
        self.db = self.given[0].db if self.given else "default"
        self.members: dict[type[models.Model], _Members] = {}
        own_models = list(dict.fromkeys(_concrete(queryset.model) for queryset in self.given))
        for queryset in self.given:
            model = _concrete(queryset.model)
            self._members(model).own.append(queryset)
            if _is_whole_table(queryset):
                self._whole(model)
            else:
                for child, link in subtypes(model):
                    self._add(child, link.attname, _keys(queryset))
        self.steps = resolve_follow(own_models, follow)
        self.followed = {step.child for step in self.steps}
        self._follow_children()
        if parents:
            self._bring_parents()

    def _members(self, model: type[models.Model]) -> _Members:
        if model not in self.members:
            self.members[model] = _Members(model, self.db)
        return self.members[model]

    def _follow_children(self) -> None:
        for step in self.steps:  # in path order: a parent's set is complete first
            parent = self.members[step.parent].all()
            if step.generic:
                rows = generic_children(parent, step.fk, self.db)
                self._add(step.child, step.child._meta.pk.attname, rows)
                continue
            target = step.fk.target_field.attname
            self._add(step.child, step.fk.attname, parent.order_by().values(target))

    def _bring_parents(self) -> None:
        # Subtype rows mirror their parent model's set, complete when they
        # are visited (see _visiting_order); a subtype referring to its
        # parent's model (a book recommending a product, which may be a book
        # recommending ...) is passed over again like a cycle.
        cyclic = self._has_cycle() or self._subtype_refers_back()
        for round_number in range(MAX_ROUNDS):
            grew = False
            # Children before parents: each model's set is complete when its
            # references are taken (but across a cycle, hence the rounds).
            for model in self._visiting_order():
                members = self._members(model)
                if round_number > 0 and members.version == members.taken_at:
                    continue  # its set did not grow since its references were taken
                self._freeze(members, limit=FREEZE_LIMIT)
                self._ancestors(members)
                self._freeze(members, limit=FREEZE_LIMIT)
                # Before its references are taken: rows they bring into this
                # very model (a book recommending a book) count as new.
                members.taken_at = members.version
                for ref, target in forward_references(model):
                    if target is not model and (target in self.members or brought(target)):
                        grew |= self._add_parents(members, ref, target, check=round_number > 0)
                grew |= self._add_generic_objects(members, check=round_number > 0)
                grew |= self._add_indexed_references(members, check=round_number > 0)
            # The objects of generic relations are known only from the rows:
            # they may be of a model visited already, or new to the set.
            if not grew or not (cyclic or self._has_generic_relations()):
                break
            # Another pass builds on each set as a list of its keys, not on
            # this pass's subqueries: those would nest again in every pass,
            # doubling the query each time.
            for members in self.members.values():
                self._freeze(members)
        else:
            raise ConfigurationError(
                "the subset's rows reference each other in a chain that did not end "
                f"within {MAX_ROUNDS} passes (each pass adds the rows the last one's name)"
            )
        for members in self.members.values():
            self._freeze(members, limit=FREEZE_LIMIT)

    def _freeze(self, members: _Members, *, limit: int | None = None) -> None:
        """The rows of ``members`` that came as parents or children so far, as
        one list of keys (held in memory, once each), so that what is built
        on them nests no subqueries in subqueries: each model's set is built
        on the others', and a query nesting them all grows with every model
        and every pass (the planner then guesses badly, and SQLite's parser
        overflows after a few dozen: a page's ancestors' documents'
        collections' ancestors...). On SQLite a JSON array read by
        ``json_each`` (it takes any number of keys); elsewhere a list, and
        with ``limit``, only when it has at most that many keys (a larger
        set stays a subquery, its keys not held)."""
        if members.whole_table or not members.added or members.frozen_at == members.version:
            return
        connection = connections[self.db]
        keys = members.manager.filter(members.added_q()).order_by().values_list("pk", flat=True)
        keys = keys.distinct()
        if connection.vendor == "sqlite":
            pk = members.model._meta.pk
            stored = [_json_key(pk.get_db_prep_value(key, connection)) for key in keys]
            listed = RawSQL("SELECT value FROM json_each(%s)", [json.dumps(stored)])  # noqa: S611
        else:
            listed = list(keys if limit is None else keys[: limit + 1])
            if limit is not None and len(listed) > limit:
                return
        if not listed:
            # No such rows: a subquery matching none (an empty list would make
            # the queries built on it raise EmptyResultSet). The model stays
            # in the set, and is announced: the client then knows production
            # sent no such rows (see synctool.client.subtypes).
            listed = members.manager.filter(pk__isnull=True).values("pk")
        members.added = [("pk", listed)]
        members.frozen_at = members.version

    def _visiting_order(self) -> list[type[models.Model]]:
        """The reachable models, children before parents; a multi-table child
        right before its parent, after every other model referring to the
        parent: its rows mirror the parent's set, complete only then."""
        order = list(reversed(sort_models(self._reachable())))
        for model in list(order):
            for child, _link in subtypes(model):
                if child in order:
                    order.remove(child)
                    order.insert(order.index(model), child)
        return order

    def _subtype_refers_back(self) -> bool:
        """Whether a multi-table child refers to a model of the set other than
        by its link (a book recommending a product, or naming its publisher):
        the rows it brings may be visited already, or have subtype rows in
        turn, so the set is passed over again until nothing grows."""
        for model in self._reachable():
            for child, link in subtypes(model):
                if any(
                    ref is not link and target in self.members and target is not child
                    for ref, target in forward_references(child)
                ):
                    return True
        return False

    def _add(
        self, model: type[models.Model], lookup: str, values, source: type | None = None
    ) -> None:
        """Add the rows of ``model`` whose ``lookup`` is in ``values``, and the
        rows of its multi-table children (a ``Book`` of a ``Product``) that
        extend them: without those, a product whose row says it is a book
        (django-polymorphic's content type) would arrive as a bare product,
        with no error anywhere."""
        members = self._members(model)
        if members.whole_table:
            return
        members.added.append((lookup, values))
        members.version += 1
        for child, link in subtypes(model):
            if child is source:
                continue  # a child's rows bring their parent rows: not back
            by_link = link.attname if lookup == model._meta.pk.attname else f"{link.name}__{lookup}"
            self._add(child, by_link, values, source)

    def _whole(self, model: type[models.Model]) -> None:
        """Every row of ``model`` is in the set, so every row of its subtypes."""
        self._members(model).whole_table = True
        for child, _link in subtypes(model):
            self._whole(child)

    def _reachable(self) -> list[type[models.Model]]:
        for model in parent_models(list(self.members)):
            self._members(model)
        return list(self.members)

    def _has_cycle(self) -> bool:
        order = sort_models(self._reachable())
        position = {model: i for i, model in enumerate(order)}
        return any(
            position[target] > position[model]
            for model in order
            for _ref, target in forward_references(model)
            if target in position and target is not model
        )

    def _add_parents(self, members: _Members, ref: models.Field, target, *, check: bool) -> bool:
        """Add the rows ``members`` point to through ``ref``.

        With ``check`` (a later pass over a cycle), only when that brings
        rows not in the set yet; returns whether it added anything.
        """
        if not members.has_rows:
            return False  # a subtype none of whose rows is in the set (yet)
        parent = self._members(target)
        if parent.whole_table:
            return False
        name = ref.name if ref.many_to_many else ref.attname
        lookup = "pk" if ref.many_to_many else ref.target_field.attname
        values = members.all().filter(**{f"{name}__isnull": False}).order_by().values(name)
        if check:
            new = parent.manager.filter(**{f"{lookup}__in": values})
            if not new.exclude(pk__in=parent.all().values("pk")).exists():
                return False
        # Through a child's link to its parent, the parent's rows are the
        # child's own: not mirrored back into the child.
        link = getattr(ref.remote_field, "parent_link", False)
        self._add(target, lookup, values, source=members.model if link else None)
        return True

    def _has_generic_relations(self) -> bool:
        """Whether rows of the set may name rows of any model (by a generic
        relation, or in values Wagtail's reference index lists)."""
        return any(
            members.has_rows and (local_generic_relations(model) or is_indexed(model))
            for model, members in self.members.items()
        )

    def _add_generic_objects(self, members: _Members, *, check: bool) -> bool:
        """Add the objects the rows of ``members`` point at through a generic
        relation (a comment's order, a tag's product, a log entry's page).
        Returns whether anything came; with ``check`` (a later pass), only
        rows not in the set yet count."""
        if not members.has_rows:
            return False
        grew = False
        for ct_field, id_field in local_generic_relations(members.model):
            rows = members.all().filter(**{f"{ct_field.attname}__isnull": False})
            grew |= self._add_objects(rows, ct_field, id_field, check=check)
        return grew

    def _add_indexed_references(self, members: _Members, *, check: bool) -> bool:
        """Add the rows that the values of the rows of ``members`` name, as
        Wagtail's reference index lists them (a ``StreamField``'s chosen
        image or page, a rich text link; see :mod:`synctool.server.references`).
        Returns whether anything came, as ``_add_generic_objects``."""
        if not members.has_rows or not is_indexed(members.model):
            return False
        rows = index_rows(members.all(), self.db)
        index = rows.model._meta
        return self._add_objects(
            rows,
            index.get_field("to_content_type"),
            index.get_field("to_object_id"),
            check=check,
        )

    def _add_objects(self, rows: models.QuerySet, ct_field, id_field, *, check: bool) -> bool:
        """Add the objects ``rows`` name by content type and object id: per
        content type among them, the rows of its model whose key is an
        object id. A content type of a model this server lacks (a stale one)
        brings nothing."""
        grew = False
        kinds = rows.order_by().values_list(ct_field.attname, flat=True).distinct()
        for content_type_id in list(kinds):
            target = self._model_of_content_type(content_type_id)
            if target is None or not brought(target):
                continue
            objects = self._members(target)
            if objects.whole_table:
                continue
            keys = object_keys(rows.filter(**{ct_field.attname: content_type_id}), id_field, target)
            if check and not (
                objects.manager.filter(pk__in=keys)
                .exclude(pk__in=objects.all().values("pk"))
                .exists()
            ):
                continue
            self._add(target, target._meta.pk.attname, keys)
            grew = True
        return grew

    def _model_of_content_type(self, content_type_id) -> type[models.Model] | None:
        from django.contrib.contenttypes.models import ContentType

        try:
            content_type = ContentType.objects.db_manager(self.db).get_for_id(content_type_id)
        except ContentType.DoesNotExist:
            return None
        model = content_type.model_class()
        return _concrete(model) if model is not None else None

    def _ancestors(self, members: _Members) -> None:
        """Add every ancestor of the rows of ``members``: through a self
        reference (a tree's parent), or along a materialized path."""
        if members.whole_table or not members.has_rows:
            return
        if members.version == members.ancestors_at:
            return  # nothing came since its ancestors were added (a later pass)
        self._ancestors_by_reference(members)
        self._ancestors_by_path(members)
        members.ancestors_at = members.version

    def _ancestors_by_path(self, members: _Members) -> None:
        """A django-treebeard ``MP_Node`` tree (Wagtail's pages and
        collections): its rows name their ancestors by their path's prefixes,
        one step (``steplen`` characters) per level, with no foreign key. Per
        level above the deepest row, the rows whose path is a prefix of a
        row's: indexed lookups of the unique ``path``."""
        if not is_materialized_path_tree(members.model):
            return
        steplen = members.model.steplen
        rows = members.all().order_by()
        deepest = rows.aggregate(deepest=models.Max("depth"))["deepest"] or 0
        for level in range(1, deepest):
            prefixes = (
                rows.filter(depth__gt=level)
                .annotate(synctool_prefix=Substr("path", 1, level * steplen))
                .values("synctool_prefix")
            )
            self._add(members.model, "path", prefixes)

    def _ancestors_by_reference(self, members: _Members) -> None:
        """A self reference (a tree's parent): add every ancestor, in one query.

        A recursive common table expression (SQLite, PostgreSQL, MySQL 8,
        MariaDB 10.2): nested subqueries, one per level, overflow SQLite's
        parser after a few levels. ``UNION`` (not ``UNION ALL``) ends even
        where the data has a cycle.
        """
        model = members.model
        for ref, target in forward_references(model):
            if target is not model or ref.many_to_many:
                continue
            connection = connections[members.db]
            quote = connection.ops.quote_name
            base = members.all().order_by().values("pk")
            base_sql, base_params = base.query.get_compiler(connection=connection).as_sql()
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            fk, key = quote(ref.column), quote(ref.target_field.column)
            # Only quoted names of the model's own table and columns go into
            # the text; values stay parameters.
            sql = (
                f"WITH RECURSIVE synctool_up (k) AS ("  # noqa: S608
                f"SELECT {fk} FROM {table} WHERE {pk} IN ({base_sql}) AND {fk} IS NOT NULL "
                f"UNION SELECT t.{fk} FROM {table} t JOIN synctool_up ON t.{key} = synctool_up.k "
                f"WHERE t.{fk} IS NOT NULL) SELECT k FROM synctool_up"
            )
            ancestors = RawSQL(sql, base_params)  # noqa: S611 - see above
            self._add(model, ref.target_field.attname, ancestors)

    # -- results -------------------------------------------------------------

    @property
    def own_labels(self) -> list[str]:
        own = {_concrete(qs.model) for qs in self.given} | self.followed
        return [str(m._meta) for m in sort_models(own)]

    @property
    def followed_labels(self) -> list[str]:
        return [str(m._meta) for m in sort_models(self.followed)]

    @property
    def parent_labels(self) -> list[str]:
        own = set(self.own_labels)
        return [
            str(m._meta)
            for m in sort_models(self.members)
            if str(m._meta) not in own and self.members[m].added
        ]

    def querysets(self) -> list[models.QuerySet]:
        """The querysets to stream: the given ones, then the extra rows of each model."""
        result = list(self.given)
        for members in self.members.values():
            extra = members.extra()
            if extra is not None:
                result.append(extra)
        return result
