"""URLs of the test server: Route objects (as in the seed) and SYNCTOOL_ROUTES."""

from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve

from synctools.routing import Route
from tests.testapp.models import AllTypes, Blog, Node, Post, Tag

route = Route()
route.app("testapp", "testapp")
route.app("sites", "sites")
route.app("users", "auth", natural_keys=True)
route.app("contenttypes", "contenttypes", natural_keys=True)
route.models("blogs", "testapp.Author", "testapp.Blog", "testapp.Post", "testapp.Tag")
route.models("nodes", "testapp.Node")
route.models("clubs", "testapp.Club", "testapp.Membership", "testapp.Author")
route.models("places", "testapp.Restaurant", "testapp.Place")
route.models("restaurants", "testapp.Restaurant")
route.models("alltypes", "testapp.AllTypes", "testapp.UUIDItem")
route.app("shop", "shop")
route.app("fieldtypes", "fieldtypes")
route.models("orders", "shop.Customer", "shop.Order", "shop.Comment", "shop.Rating")


@route.queryset("blog/(?P<slug>[^/]+)")
def blog(slug):
    return [Post.objects.filter(blog__slug=slug), Blog.objects.filter(slug=slug)]


@route.queryset(r"posts-of-blog/([0-9]+)")
def posts_of_blog(blog_id):
    return (qs for qs in [Post.objects.filter(blog_id=blog_id), Blog.objects.filter(pk=blog_id)])


@route.queryset("tags-for-user")
def tags_for_user(request):
    return Tag.objects.filter(name__startswith=request.GET.get("prefix", ""))


@route.queryset("first-blogs")
def first_blogs():
    # The seed's slicing example.
    return [Blog.objects.order_by("pk")[:2]]


@route.queryset("renamed-blogs")
def renamed_blogs():
    # The seed's "modifying querysets" example: changed objects are sent as is.
    queryset = Blog.objects.all()
    for item in queryset:
        item.name = item.name.upper()
    return queryset


@route.queryset("nodes-reversed")
def nodes_reversed():
    return Node.objects.order_by("-pk")


@route.queryset("alltypes-only")
def alltypes_only():
    return AllTypes.objects.all()


@route.queryset(r"employee/([0-9]+)")
def employee(pk):
    # Employee -> Department -> Employee (the head): a cycle between two models.
    from tests.shop.models import Employee

    return Employee.objects.filter(pk=pk)


@route.queryset("remarks")
def remarks():
    """Rows with generic relations (declared, with a numeric id, and by
    convention only): their objects come as parents."""
    from tests.shop.models import Comment, LogEntry, Rating

    return [
        Comment.objects.filter(text__startswith="about"),
        Rating.objects.filter(stars__gte=4),
        LogEntry.objects.filter(label="kept"),
    ]


@route.queryset("customers-following-nothing", follow=["nope"])
def customers_following_nothing():
    """A follow path its model does not have: known only when requested."""
    from tests.shop.models import Customer

    return Customer.objects.all()


@route.queryset(r"first-blogs-alone", parents=False)
def first_blogs_alone():
    return [Blog.objects.order_by("pk")[:2]]


route.models("order-items", "shop.OrderItem")
route.models("orders-alone", "shop.Customer", "shop.Order", "shop.Comment", parents=False)
route.models("tags", "testapp.Tag")
route.models("alltypes-table", "testapp.AllTypes")

rotated = Route(api_token=["old-token-0123456789abc", "new-token-0123456789abc"])
rotated.app("sites", "sites")

urlpatterns = [
    re_path(r"^sync/", include(route.urlpatterns)),
    path("settings-sync/", include("synctool.urls")),
    path("rotated/", include(rotated.urlpatterns)),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
