"""A plugin loaded by the end-to-end server (SYNCTOOL_E2E_PLUGINS): it acts
on marker values so tests can drive server-side transform_object."""

import os
import time
from pathlib import Path

from synctool import hookimpl

STALL = "STALL-ON-SERVER:"


def stall(token: str) -> None:
    """Say so (``TOKEN.stalled``), then wait until the test releases the row
    (``TOKEN.go``) in the stall directory: the response stops mid-body."""
    directory = Path(os.environ["SYNCTOOL_E2E_STALL_DIR"])
    (directory / f"{token}.stalled").touch()
    deadline = time.monotonic() + 60
    while not (directory / f"{token}.go").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"stalled row {token} never released")
        time.sleep(0.02)


@hookimpl
def transform_object(obj, side):
    if side != "server":
        return None
    fields = obj["fields"]
    name = fields.get("name")
    if isinstance(name, str) and name.startswith(STALL):
        stall(name.removeprefix(STALL))
    if fields.get("title") == "BOOM-ON-SERVER":
        raise RuntimeError("the server-side transform failed on purpose")
    if fields.get("title") == "DROP-ON-SERVER":
        return False
    if fields.get("body") == "REDACT-ON-SERVER":
        fields["body"] = "redacted"
    return None
