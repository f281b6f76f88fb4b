"""Queryset functions served by the test routes."""

from tests.testapp.models import Author, Blog, Post, Tag


def blog_by_slug(slug):
    # Deliberately children first: synctool must reorder.
    return [
        Post.objects.filter(blog__slug=slug),
        Tag.objects.filter(post__blog__slug=slug).distinct(),
        Blog.objects.filter(slug=slug),
        Author.objects.filter(blog__slug=slug),
    ]


def customer_by_pk(pk):
    """Customer ``pk``; the route follows its orders and their items (settings)."""
    from tests.shop.models import Customer

    return Customer.objects.filter(pk=pk)
