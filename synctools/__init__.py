"""Alias package: the seed's ``from synctools.routing import Route`` and
``from synctools.client import Client`` keep working."""
