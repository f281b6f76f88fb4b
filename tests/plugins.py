"""A plugin loaded by the end-to-end server (SYNCTOOL_E2E_PLUGINS): it acts
on marker values so tests can drive server-side transform_object."""

from synctool import hookimpl


@hookimpl
def transform_object(obj, side):
    if side != "server":
        return None
    fields = obj["fields"]
    if fields.get("title") == "BOOM-ON-SERVER":
        raise RuntimeError("the server-side transform failed on purpose")
    if fields.get("title") == "DROP-ON-SERVER":
        return False
    if fields.get("body") == "REDACT-ON-SERVER":
        fields["body"] = "redacted"
    return None
