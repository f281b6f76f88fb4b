#!/usr/bin/env python
"""manage.py of the demo's production site (example/production)."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # The blog app and both projects live in example/.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "production.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
