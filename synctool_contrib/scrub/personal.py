"""Which fields look like personal data: e-mail, phone, name, address, IP,
birth date, identity and bank numbers, user names and passwords.

A heuristic on the field's type (``EmailField``, ``GenericIPAddressField``)
and the words of its name (``email``, ``mobile_phone``, ``home_address``,
``date_of_birth``...), restricted to field types where the word makes sense
(``email_verified``, a boolean, is not an address). A bare ``name`` counts
only on a model that already has another personal field (an author, a
customer), not on a tag or a blog. A ``JSONField`` counts by its name (an
``address`` held as JSON) and, on a model with personal fields, whatever its
name: its keys may hold more. On a model with a generic relation, a text
that names the object pointed at (``label``, ``object_repr``) counts: the
object may be a user. Used by strict mode, the system checks
and ``manage.py synctool_scrub_report``; it never changes what is sent.
"""

from django.db import models

from synctool.identity import generic_foreign_keys
from synctool_contrib.scrub.fields import field_kind, serialized_fields

TEXT = {"text"}
# category: (why it looks personal, field kinds where the words count)
CATEGORIES = {
    "email": ("an e-mail address", TEXT),
    "phone": ("a phone number", TEXT | {"other"}),
    "name": ("a person's name", TEXT),
    "address": ("a postal address", TEXT),
    "ip": ("an IP address", TEXT | {"ip"}),
    "birth": ("a birth date", TEXT | {"date", "datetime"}),
    "identity": ("an identity or bank number", TEXT | {"other"}),
    "password": ("a password hash", TEXT),
    "username": ("a user name", TEXT),
}
WORDS = {
    "email": "email",
    "mail": "email",
    "phone": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "tel": "phone",
    "fax": "phone",
    "cellphone": "phone",
    "msisdn": "phone",
    "firstname": "name",
    "lastname": "name",
    "surname": "name",
    "forename": "name",
    "nickname": "name",
    "fullname": "name",
    "address": "address",
    "street": "address",
    "postcode": "address",
    "zipcode": "address",
    "zip": "address",
    "ip": "ip",
    "ipv4": "ip",
    "ipv6": "ip",
    "birth": "birth",
    "birthday": "birth",
    "birthdate": "birth",
    "dob": "birth",
    "ssn": "identity",
    "passport": "identity",
    "iban": "identity",
    "password": "password",
    "passwd": "password",
    "username": "username",
    "login": "username",
}
NAMES = {
    "first_name": "name",
    "last_name": "name",
    "full_name": "name",
    "given_name": "name",
    "family_name": "name",
    "middle_name": "name",
    "maiden_name": "name",
    "postal_code": "address",
    "ip_address": "ip",
    "remote_addr": "ip",
    "user_name": "username",
    "social_security_number": "identity",
    "national_id": "identity",
    "tax_id": "identity",
    "tax_number": "identity",
    "id_number": "identity",
    "card_number": "identity",
    "credit_card": "identity",
    "account_number": "identity",
    "bank_account": "identity",
}
# Personal only next to other personal fields (an author's name, not a tag's).
PERSON_NAMES = {"name", "display_name"}
# A JSON value on a model with personal fields (a customer's "preferences",
# a profile's "extra") may hold more of them, under keys no heuristic sees.
JSON_NEXT_TO_PERSONAL = "a JSON value next to personal fields (it may hold some)"
# The text of the object a generic relation points at (Wagtail's log entries'
# ``label``, the admin's and django-reversion's ``object_repr``): when that
# object is a user, their name, beside the scrubbed key that names them.
OBJECT_TEXTS = {"label", "object_repr", "object_str", "object_name", "repr"}
OBJECT_TEXT = "the text of the object its generic relation points at (a user's name, if a user)"


def _category(field: models.Field) -> str | None:
    if isinstance(field, models.EmailField):
        return "email"
    if isinstance(field, models.GenericIPAddressField):
        return "ip"
    name = field.name.lower()
    category = NAMES.get(name)
    if category is None:
        for word in name.split("_"):
            category = WORDS.get(word)
            if category is not None:
                break
    if category is None:
        return None
    if field_kind(field) not in CATEGORIES[category][1] and not isinstance(field, models.JSONField):
        return None
    return category


def personal_fields(model: type[models.Model]) -> dict[str, str]:
    """``{field name: why it looks personal}`` for the serialized fields of ``model``."""
    fields = serialized_fields(model)
    result = {}
    for name, field in fields.items():
        category = _category(field)
        if category is not None:
            result[name] = CATEGORIES[category][0]
    if result:
        for name, field in fields.items():
            if name in PERSON_NAMES and field_kind(field) == "text":
                result.setdefault(name, "a person's name (next to other personal fields)")
            elif isinstance(field, models.JSONField):
                result.setdefault(name, JSON_NEXT_TO_PERSONAL)
    if generic_foreign_keys(model._meta.concrete_model):
        for name, field in fields.items():
            if name in OBJECT_TEXTS and field_kind(field) == "text":
                result.setdefault(name, OBJECT_TEXT)
    return result
