"""Whether a field of this code can hold every value production's field sends.

The schema gate (:mod:`synctool.client.gate`) compares the fields both sides
have by the description :func:`synctool.meta.describe_field` gives. A field
whose type changed between production's code and this one (an
``IntegerField`` that became a ``FloatField``, a ``DecimalField`` given more
decimal places, a foreign key pointed at another model) would otherwise be
loaded through this code's field: ``4.7`` written as ``4``, ``1.2345`` as
``1.23``, keys read as another model's, and no error anywhere.

Widening is fine (a ``BigIntegerField`` here takes an ``IntegerField``'s
values); anything else is a difference.
"""

from __future__ import annotations

# The values each integer kind holds (Django's documented ranges).
_SMALL, _INT, _BIG = 2**15, 2**31, 2**63
INTEGER_RANGES = {
    "SmallAutoField": (-_SMALL, _SMALL - 1),
    "SmallIntegerField": (-_SMALL, _SMALL - 1),
    "PositiveSmallIntegerField": (0, _SMALL - 1),
    "AutoField": (-_INT, _INT - 1),
    "IntegerField": (-_INT, _INT - 1),
    "PositiveIntegerField": (0, _INT - 1),
    "BigAutoField": (-_BIG, _BIG - 1),
    "BigIntegerField": (-_BIG, _BIG - 1),
    "PositiveBigIntegerField": (0, _BIG - 1),
}

# Other kinds this code's field may be for production's (text that is text).
WIDER = {
    "TextField": {"CharField", "SlugField"},
    "CharField": {"SlugField"},
    "ForeignKey": {"OneToOneField"},
}


def _decimal(described: dict) -> str:
    return (
        f"DecimalField(max_digits={described.get('max_digits')}, "
        f"decimal_places={described.get('decimal_places')})"
    )


def _holds_decimal(here: dict, there: dict) -> bool:
    try:
        places_here, places_there = int(here["decimal_places"]), int(there["decimal_places"])
        whole_here = int(here["max_digits"]) - places_here
        whole_there = int(there["max_digits"]) - places_there
    except (KeyError, TypeError, ValueError):
        return True  # an older server does not say: the kinds are equal
    return places_here >= places_there and whole_here >= whole_there


def _holds_kind(here: str, there: str) -> bool:
    if here == there:
        return True
    if here in INTEGER_RANGES and there in INTEGER_RANGES:
        low_here, high_here = INTEGER_RANGES[here]
        low_there, high_there = INTEGER_RANGES[there]
        return low_here <= low_there and high_here >= high_there
    return there in WIDER.get(here, ())


def _a(kind: str) -> str:
    """``kind`` with its article: "a FloatField", "an IntegerField"."""
    return f"{'an' if kind[:1].upper() in 'AEIOU' else 'a'} {kind}"


def misfit(here: dict, there: dict) -> str | None:
    """Why this code's field (``here``) cannot hold every value production's
    (``there``) sends, as a phrase; None when it can.

    Both are :func:`~synctool.meta.describe_field` descriptions; what an
    older server leaves out is not compared.
    """
    kind_here, kind_there = here.get("kind"), there.get("kind")
    if kind_here and kind_there and not _holds_kind(kind_here, kind_there):
        return f"production's is {_a(kind_there)} and this code's {_a(kind_here)}"
    if kind_here == kind_there == "DecimalField" and not _holds_decimal(here, there):
        return f"production's is a {_decimal(there)} and this code's a {_decimal(here)}"
    to_here, to_there = here.get("to"), there.get("to")
    if to_here and to_there and to_here != to_there:
        return f"production's points at {to_there} and this code's at {to_here}"
    return None


def null_misfit(here: dict, there: dict) -> bool:
    """Whether production's field may be null where this code's may not."""
    return bool(there.get("null")) and here.get("null") is False
