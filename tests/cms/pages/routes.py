"""Queryset routes of the CMS: a slice of the site and what it needs."""

from taggit.models import TaggedItem

from tests.cms.pages.models import Comment, Page


def page_by_slug(slug):
    """Page ``slug`` with its tags and comments (rows pointing at it through a
    generic relation): the page, its specific row, its ancestors (a
    treebeard path, no foreign key) and everything those reference come too."""
    pages = Page.objects.filter(slug=slug)
    # Of the page's content types (a blog page is tagged as one).
    about = {"content_type__app_label": "pages", "object_id__in": pages.values("pk")}
    return [pages, TaggedItem.objects.filter(**about), Comment.objects.filter(**about)]
