"""``--verify``: the verdicts read from an incremental comparison's control records.

The comparison is the incremental sync's (:mod:`synctool.client.increment`):
a row is different when the server would send it (its digest changed on
the server, it changed here, or it is missing here) or delete it (it is
here and gone on the server). Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SHOWN_KEYS = 5


@dataclass
class Verdict:
    """How one model's local rows compare with the server's."""

    mode: str = "content"
    reason: str = ""
    different: int = 0  # changed here or there, or missing here
    extra: int = 0  # here, gone on the server
    keys: list = field(default_factory=list)  # the first keys that differ

    @property
    def compared(self) -> bool:
        return self.mode == "content"

    @property
    def equal(self) -> bool:
        return self.compared and not self.different and not self.extra


def verdicts_of(records: list[dict], labels: list[str]) -> dict[str, Verdict]:
    """The verdict of every model from the control records of an incremental answer."""
    verdicts = {label: Verdict(mode="merge", reason="not compared") for label in labels}
    for record in records:
        fields = record["fields"]
        label = fields.get("model")
        if label not in verdicts:
            continue
        kind = fields.get("kind")
        verdict = verdicts[label]
        if kind == "head":
            verdict.mode = str(fields.get("mode"))
            verdict.reason = str(fields.get("reason") or "")
        elif kind in ("digests", "deleted") and verdict.mode == "content":
            pks = fields.get("pks") or []
            if kind == "digests":
                verdict.different += len(pks)
            else:
                verdict.extra += len(pks)
            verdict.keys.extend(pks[: max(SHOWN_KEYS - len(verdict.keys), 0)])
    return verdicts


def verdict_line(label: str, verdict: Verdict) -> str:
    if not verdict.compared:
        return f"{label}: not compared ({verdict.mode}: {verdict.reason or 'not cleaned'})"
    if verdict.equal:
        return f"{label}: equal"
    parts = []
    if verdict.different:
        parts.append(f"{verdict.different} row(s) differ or are missing here")
    if verdict.extra:
        parts.append(f"{verdict.extra} row(s) here are gone on the server")
    keys = ", ".join(map(str, verdict.keys))
    return f"{label}: DIFFERENT: {'; '.join(parts)} (first keys: {keys})"
