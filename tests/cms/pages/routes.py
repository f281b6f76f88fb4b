"""Queryset routes of the CMS: a slice of the site and what it needs."""

from tests.cms.pages.models import Comment, Page


def page_by_slug(slug):
    """Page ``slug`` and its comments (rows pointing at it through a generic
    relation); its tagged items are followed (settings). The page, its
    specific row, its ancestors (a treebeard path, no foreign key) and
    everything those reference come too."""
    pages = Page.objects.filter(slug=slug)
    # Of the page's content types (a blog page is commented on as one).
    about = {"content_type__app_label": "pages", "object_id__in": pages.values("pk")}
    return [pages, Comment.objects.filter(**about)]


def topic_by_slug(slug):
    """Topic ``slug``; its ancestors come by their parent key."""
    from tests.cms.topics.models import Topic

    return Topic.objects.filter(slug=slug)
