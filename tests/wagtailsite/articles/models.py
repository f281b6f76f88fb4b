"""An article page whose body names images and pages only by id: a
``StreamField`` with choosers, and rich text with a page link."""

from wagtail import blocks
from wagtail.fields import RichTextField, StreamField
from wagtail.images.blocks import ImageChooserBlock
from wagtail.models import Page


class ArticlePage(Page):
    intro = RichTextField(blank=True)
    body = StreamField(
        [
            ("image", ImageChooserBlock()),
            ("related", blocks.PageChooserBlock()),
            ("text", blocks.RichTextBlock()),
        ],
        blank=True,
    )
