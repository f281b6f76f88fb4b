"""Kept so that existing ``SYNCTOOL_PLUGINS`` lists still import.

The sequence reset this module used to provide is built in now, for every
backend (:mod:`synctool.default_plugins.sequences`): the module implements
no hook, and can be removed from ``SYNCTOOL_PLUGINS``.
"""
