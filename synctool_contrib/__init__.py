"""Optional synctool plugins, one module each. Enable them in SYNCTOOL_PLUGINS."""
