# sync.py
#
# The seed's "Creating a command-line interface" example (section 3.3), as
# written there, with two fixes: the options are passed on to client.sync()
# (the original always cleaned and never fetched images), and the URLs come
# from the environment or the settings instead of placeholders.
#
#   python example/click_sync.py blogs --clean --images
#
# DJANGO_SETTINGS_MODULE defaults to the demo's local project; `make demo`
# runs this script against the demo server.

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "local.settings")

import django  # noqa: E402

django.setup()

import click  # noqa: E402

from synctool.client import Client  # noqa: E402

# None means "use settings.SYNCTOOL_CLIENT_ENDPOINT / SYNCTOOL_MEDIA_URL".
client = Client(
    api_url=os.environ.get("SYNC_API_URL"),
    media_url=os.environ.get("SYNC_MEDIA_URL"),
)


@click.group()
def cli():
    """A tool for syncing data."""


@cli.command()
@click.option("--clean/--no-clean", default=False)
@click.option("--images/--no-images", default=False)
def blogs(clean, images):
    """Sync blogs"""
    result = client.sync("blogs", clean=clean, images=images)
    click.echo(
        f"blogs: {result.received} objects received, {result.written} written, "
        f"{result.deleted} deleted in {result.seconds:.2f} s"
    )
    if result.media is not None:
        click.echo(
            f"images: {result.media.downloaded} downloaded, {result.media.skipped} skipped, "
            f"{len(result.media.failed)} failed"
        )


if __name__ == "__main__":
    cli()
