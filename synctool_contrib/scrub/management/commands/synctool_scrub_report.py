"""``manage.py synctool_scrub_report``: what the routes send, field by field.

Lists every model the routes serve and each of its fields, with the
SYNCTOOL_SCRUB rule applied to it and, for the fields that look personal
(e-mail, phone, name, address, IP, birth date...), why; those without a rule
are marked. ``--fail-on-missing`` makes it a CI gate.
"""

from django.core.management.base import BaseCommand, CommandError

from synctool.exceptions import ConfigurationError
from synctool_contrib.scrub.conf import settings

MISSING = "NO RULE"


class Command(BaseCommand):
    help = (
        "List every field the synctool routes serve, the scrub rule applied to it, "
        "and the likely personal fields that have none."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--missing",
            action="store_true",
            help="list only the likely personal fields without a rule",
        )
        parser.add_argument(
            "--fail-on-missing",
            action="store_true",
            help="exit with status 1 when a likely personal field has no rule",
        )

    def handle(self, *args, missing=False, fail_on_missing=False, **options):
        from synctool_contrib.scrub.report import field_lines, served_models
        from synctool_contrib.scrub.rules import parse_rules
        from synctool_contrib.scrub.strict import PLUGIN, plugin_enabled

        try:
            rules = parse_rules(settings.SYNCTOOL_SCRUB)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        served, unknown = served_models()
        if not plugin_enabled():
            self.stdout.write(
                f"note: {PLUGIN} is not in SYNCTOOL_PLUGINS: no rule is applied on this side.\n"
            )
        lacking = []
        for model in sorted(served, key=lambda m: m._meta.label_lower):
            lines = field_lines(model, rules)
            lacking.extend(line for line in lines if line.missing)
            shown = [line for line in lines if line.missing] if missing else lines
            if not shown:
                continue
            routes = ", ".join(repr(path) for path in served[model])
            self.stdout.write(f"{model._meta.label_lower}  (routes: {routes})")
            self.stdout.write(self._table(shown))
            self.stdout.write("")
        if unknown:
            self.stdout.write(
                "not listed (their models depend on URL arguments or their function failed): "
                + ", ".join(repr(path) for path in unknown)
            )
        if lacking:
            names = ", ".join(f"{line.label}.{line.name}" for line in lacking)
            summary = f"{len(lacking)} likely personal field(s) without a rule: {names}"
        else:
            summary = "every likely personal field has a rule."
        if lacking and fail_on_missing:
            raise CommandError(summary)
        self.stdout.write(summary)

    def _table(self, lines) -> str:
        rows = [("field", "type", "rule", "looks personal")]
        for line in lines:
            personal = line.personal or ""
            if line.missing:
                personal = f"{personal}  <- {MISSING}"
            rows.append((line.name, line.type, str(line.rule) if line.rule else "-", personal))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            "  ".join(
                ["", *(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]
            ).rstrip()
            for row in rows
        )
