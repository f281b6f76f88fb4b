"""Sphinx configuration of synctool's documentation (``make docs``)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports synctool's modules, which need configured Django settings.
import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "synctool"],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()

import synctool  # noqa: E402

project = "synctool"
author = "the synctool contributors"
copyright = "2014, Preston Timmons; 2026, the synctool contributors"  # noqa: A001
release = synctool.__version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": False}

exclude_patterns = ["_build", "examples"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
html_theme_options = {
    "description": "Pull production data into any Django database, over HTTPS.",
    "fixed_sidebar": True,
}
pygments_style = "sphinx"
