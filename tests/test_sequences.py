"""Sequences after a sync: the models it wrote or cleaned are reset (as loaddata
resets the models it loads), by the built-in plugin, whatever SYNCTOOL_PLUGINS says."""

import pytest

from tests.conftest import e2e
from tests.testapp.models import Blog, Comment, Post, Tag


@pytest.mark.parametrize(
    "plugins", [[], ["synctool_contrib.scrub"], ["tests.plugins"]], ids=["none", "scrub", "own"]
)
@e2e
def test_a_clean_sync_resets_the_sequences_of_what_it_wrote(client_for, settings, plugins):
    settings.SYNCTOOL_PLUGINS = plugins
    Tag.objects.using("server").create(pk=1, name="one")
    Tag.objects.using("server").create(pk=2, name="two")
    Tag.objects.create(pk=500, name="local, high")  # raises the local sequence to 500
    client_for().sync("blogs", clean=True)
    assert Tag.objects.create(name="new").pk == 3  # not 501: the sequence follows max(pk)


@e2e
def test_models_the_sync_did_not_touch_keep_their_sequence(client_for):
    blog = Blog.objects.create(pk=900, name="b", slug="b")
    post = Post.objects.create(pk=900, blog=blog, title="t", created="2024-01-01T00:00:00Z")
    made = [Comment.objects.create(post=post, text=str(n)) for n in range(3)]
    Comment.objects.all().delete()  # the sequence stays past the deleted rows
    Post.objects.using("server").create(
        pk=1, blog=Blog.objects.using("server").create(pk=1, name="s", slug="s"), title="t",
        created="2024-01-01T00:00:00Z",
    )  # fmt: skip
    client_for().sync("blogs")  # carries posts, not comments
    # Not reset: a reset would bring an empty table's sequence back to 1.
    assert Comment.objects.create(post=post, text="y").pk == made[-1].pk + 1
    assert Post.objects.create(blog=blog, title="n", created="2024-01-01T00:00:00Z").pk == 901
