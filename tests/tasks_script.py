"""A process that enqueues synctool.tasks.sync (as a web request would) or reads
the results back, with tests/worker_settings.py (SYNCTOOL_WORKER_TASKS=1):

    python tests/tasks_script.py enqueue '[{"args": [...], "kwargs": {...}}, ...]'
    python tests/tasks_script.py results '["id", ...]'

Prints JSON: the ids of the tasks enqueued, or per id its status, return
value and errors."""

import json
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from synctool.tasks import sync  # noqa: E402


def enqueue(calls: list[dict]) -> list[str]:
    # The queue's table, in the worker's "default" database.
    call_command("migrate", "django_tasks_database", verbosity=0)
    return [
        sync.using(priority=call.get("priority", 0)).enqueue(*call["args"], **call["kwargs"]).id
        for call in calls
    ]


def results(ids: list[str]) -> dict:
    out = {}
    for task_id in ids:
        result = sync.get_result(task_id)
        out[task_id] = {
            "status": str(result.status),
            "value": result.return_value if result.status == "SUCCESSFUL" else None,
            "errors": [error.exception_class_path for error in result.errors],
            "traceback": "\n".join(error.traceback for error in result.errors),
        }
    return out


if __name__ == "__main__":
    command, argument = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(enqueue(argument) if command == "enqueue" else results(argument)))
