from synctool.routing import Route

__all__ = ["Route"]
