def no_gzip(get_response):
    """Drop Accept-Encoding so the export view answers uncompressed."""

    def middleware(request):
        request.META.pop("HTTP_ACCEPT_ENCODING", None)
        return get_response(request)

    return middleware
