from synctool.client import Client

__all__ = ["Client"]
