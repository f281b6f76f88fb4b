"""The subset route of the Wagtail site: one page and what it needs."""

from wagtail.models import Page


def page_by_slug(slug):
    return Page.objects.filter(slug=slug)
