"""A Wagtail site synced as a user would: a subset of one page brings the
images and pages its values name by id (a ``StreamField``'s choosers, rich
text links), which only Wagtail's reference index records.

The server runs under gunicorn; the laptop, migrated in another order, has
images of its own at the ids production's have, so a chooser left pointing
at its id would show the laptop's image: wrong data, with no error.
"""

import pytest

from tests.conftest import start_gunicorn, stop_server
from tests.projects import Site, database, drop, recreate

pytest.importorskip("wagtail")

CHAPTERS = 12

SEED = """
from wagtail.images.models import Image
from wagtail.models import Page
from tests.wagtailsite.articles.models import ArticlePage
unused = Image.objects.create(title="unused", file="original_images/unused.png", width=4, height=4)
banner = Image.objects.create(title="banner", file="original_images/banner.png", width=4, height=4)
home = Page.objects.get(depth=2)
pages = {}
for slug in ["about", "contact", "faq", "unrelated", "news"]:
    pages[slug] = home.add_child(instance=ArticlePage(title=slug.title(), slug=slug))
intro = f'<p>See <a linktype="page" id="{pages["about"].pk}">about us</a>.</p>'
faq = f'<p>Read the <a linktype="page" id="{pages["faq"].pk}">FAQ</a>.</p>'
article = pages["news"].add_child(instance=ArticlePage(
    title="Article", slug="article", intro=intro,
    body=[("image", banner), ("related", pages["contact"]), ("text", faq)],
))
# A chain: each chapter names the one before (more links than passes once allowed).
before = None
for number in range(CHAPTERS):
    body = [("related", before)] if before else []
    before = pages["news"].add_child(instance=ArticlePage(
        title=f"Chapter {number}", slug=f"chapter-{number}", body=body,
    ))
"""

# The laptop's own images, at the ids production's unused and banner images have.
LOCAL_ROWS = """
from wagtail.images.models import Image
for title in ["laptop cat", "laptop dog"]:
    Image.objects.create(title=title, file=f"original_images/{title}.png", width=4, height=4)
"""

CHECK = """
from wagtail.images.models import Image
from wagtail.models import Page
article = Page.objects.get(slug="article").specific
chosen = {block.block_type: block.value for block in article.body}
related = chosen["related"].specific
print(chosen["image"].title, related.title, type(related).__name__)
print(sorted(Page.objects.filter(depth__gt=2).values_list("slug", flat=True)))
print(sorted(Image.objects.values_list("title", flat=True)))
"""


def wagtail_site(role, tmp) -> Site:
    return Site(
        "tests.wagtailsite.settings", "WAGTAILSITE", database(role, tmp), tmp / f"{role}-media"
    )


@pytest.fixture(scope="module")
def wagtail(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wagtail")
    server = wagtail_site("wagtail_server", tmp)
    laptop = wagtail_site("wagtail_client", tmp)
    for site in (server, laptop):
        recreate(site.settings)
    server.manage("migrate", "-v", "0")
    # Another order: the laptop's content type ids differ from production's.
    laptop.manage("migrate", "articles", "-v", "0")
    laptop.manage("migrate", "-v", "0")
    laptop.shell(LOCAL_ROWS)
    server.shell(f"CHAPTERS = {CHAPTERS}\n" + SEED)
    process = start_gunicorn(tmp, "tests.wagtailsite.wsgi:application", server.env())
    laptop.endpoint = process.base_url
    try:
        yield server, laptop
    finally:
        stop_server(process)
        for site in (server, laptop):
            drop(site.settings)


def test_a_page_subset_brings_what_its_values_name(wagtail):
    """The article's image chooser names production's banner, its page
    chooser the contact page, its rich texts the about and FAQ pages: all
    come (the banner over the laptop's own image at its id, as any row at
    production's key), with their ancestors; the unrelated page and the
    unused image do not."""
    server, laptop = wagtail
    done = laptop.manage("sync_data", "page/article", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert laptop.shell(CHECK).splitlines() == [
        "banner Contact ArticlePage",
        "['about', 'article', 'contact', 'faq', 'news']",
        "['banner', 'laptop cat']",
    ]
    assert "banner Contact ArticlePage" in server.shell(CHECK)


CHAIN = """
from wagtail.models import Page
for page in Page.objects.filter(slug__startswith="chapter-").order_by("pk"):
    named = [block.value.slug for block in page.specific.body]
    print(page.slug, named, page.get_parent().slug)
"""


def test_a_chain_of_page_choosers_comes_whole(wagtail):
    """The last chapter names the one before, which names the one before...:
    one pass per link, however long the chain, and every chooser names the
    right page on the laptop."""
    server, laptop = wagtail
    done = laptop.manage("sync_data", f"page/chapter-{CHAPTERS - 1}", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = [f"chapter-{n} {[f'chapter-{n - 1}'] if n else []} news" for n in range(CHAPTERS)]
    assert laptop.shell(CHAIN).splitlines() == expected
    assert server.shell(CHAIN).splitlines() == expected
