from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType

from synctool.meta import sort_models
from tests.testapp.models import (
    Author,
    Blog,
    Club,
    Comment,
    Membership,
    Node,
    Place,
    Post,
    Restaurant,
    Tag,
)


def before(order, first, second):
    return order.index(first) < order.index(second)


def test_foreign_keys_and_many_to_many_come_first():
    order = sort_models([Comment, Post, Tag, Blog, Author])
    assert before(order, Author, Blog)
    assert before(order, Blog, Post)
    assert before(order, Tag, Post)  # m2m target
    assert before(order, Post, Comment)


def test_explicit_through_and_inheritance():
    order = sort_models([Membership, Club, Author, Restaurant, Place])
    assert before(order, Club, Membership)
    assert before(order, Author, Membership)
    assert before(order, Place, Restaurant)


def test_self_reference_is_not_a_cycle_and_order_is_stable():
    assert sort_models([Node]) == [Node]
    assert sort_models([Tag, Node]) == [Tag, Node]
    assert sort_models([Node, Tag]) == [Node, Tag]


def test_auth_models():
    order = sort_models([User, Group, Permission, ContentType])
    assert before(order, ContentType, Permission)
    assert before(order, Permission, Group)
    assert before(order, Group, User)
