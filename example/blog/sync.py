"""The production site's sync routes (step 1 of the quickstart)."""

from blog.models import Author, Blog, Post, Tag
from synctool.routing import Route

route = Route()

# The whole blog app, like `manage.py dumpdata blog`.
route.app("blogs", "blog")


# One blog with its author, posts and tags: /sync/blog/<slug>. The order of
# the querysets does not matter: synctool sorts them by dependency.
@route.queryset("blog/(?P<slug>[^/]+)")
def blog(slug):
    return [
        Post.objects.filter(blog__slug=slug),
        Tag.objects.filter(posts__blog__slug=slug).distinct(),
        Blog.objects.filter(slug=slug),
        Author.objects.filter(blogs__slug=slug),
    ]
