"""``make demo``: a production site served over HTTP, synced into a local project.

1. example/production: migrate, seed the blog (authors, blogs, posts, tags,
   images made with Pillow) into example/var/production/ if it is empty;
2. example/local: migrate its own database in example/var/local/;
3. serve production with gunicorn on 127.0.0.1 (a free port), in its own
   process, with a token generated for this run;
4. in the local project: ``manage.py sync_data --list``, then
   ``manage.py sync_data blogs tags --clean --images``, which prints the summary;
   then the same route once more through the seed's Click interface
   (example/click_sync.py);
5. show what arrived (the authors' name, email and phone scrubbed by
   synctool_contrib.scrub on the server), and stop the server whatever
   happened.

Run it again: the local database is cleaned and reloaded, and the images it
already has are skipped.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent
VAR = Path(os.environ.get("DEMO_VAR_DIR", EXAMPLE / "var"))
PRODUCTION = EXAMPLE / "production" / "manage.py"
LOCAL = EXAMPLE / "local" / "manage.py"
START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def run(manage: Path, *args: str, env: dict) -> None:
    shown = f"{manage.parent.name}/manage.py {' '.join(args)}"
    print(f"$ {shown}", flush=True)
    subprocess.run([sys.executable, str(manage), *args], env=env, check=True)


def wait_until_up(server: subprocess.Popen, url: str, log: Path) -> None:
    """Wait (at most START_TIMEOUT seconds) until the server answers ``url``."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own 127.0.0.1 URL
            return
        except urllib.error.HTTPError:
            return  # 401 without the token: the application is up
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"the server did not answer within {START_TIMEOUT} s:\n"
                    f"{log.read_text(errors='replace')}"
                ) from None
            time.sleep(0.2)


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main() -> int:
    try:
        return demo()
    except subprocess.CalledProcessError as exc:
        command = " ".join(Path(part).name if "/" in part else part for part in exc.cmd[1:])
        print(f"\nThe demo failed: {command} exited with status {exc.returncode}.")
        return 1


def demo() -> int:
    for name in ("production", "local"):
        (VAR / name).mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(EXAMPLE), DEMO_VAR_DIR=str(VAR))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    production_env = dict(env, DJANGO_SETTINGS_MODULE="production.settings")
    production_env["SYNCTOOL_API_TOKEN"] = token
    local_env = dict(
        env,
        DJANGO_SETTINGS_MODULE="local.settings",
        SYNCTOOL_CLIENT_ENDPOINT=f"{base}/sync/",
        SYNCTOOL_MEDIA_URL=f"{base}/media/",
    )
    local_env["SYNCTOOL_CLIENT_TOKEN"] = token

    step("Building the production site (example/var/production)")
    run(PRODUCTION, "migrate", "--noinput", "--verbosity", "0", env=production_env)
    run(PRODUCTION, "seed_demo", env=production_env)

    step("Building the local project (example/var/local)")
    run(LOCAL, "migrate", "--noinput", "--verbosity", "0", env=local_env)

    step(f"Serving production with gunicorn on {base}")
    log_path = VAR / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                "production.wsgi:application",
            ],
            cwd=EXAMPLE,
            env=production_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    # SIGTERM (e.g. from CI) stops the server too, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        wait_until_up(server, f"{base}/sync/", log_path)
        print(f"gunicorn is up (pid {server.pid}, log: {log_path})")

        step("What production has (the authors' personal data is real here)")
        run(PRODUCTION, "demo_report", env=production_env)

        step("What the server offers")
        run(LOCAL, "sync_data", "--list", env=local_env)

        step("Syncing into the local project")
        run(
            LOCAL,
            "sync_data",
            "blogs",
            "--clean",
            "--images",
            "--endpoint",
            f"{base}/sync/",
            "--media-url",
            f"{base}/media/",
            env=local_env,
        )
        run(LOCAL, "sync_data", "tags", "--endpoint", f"{base}/settings-sync/", env=local_env)

        step("The same route through the seed's Click interface (example/click_sync.py)")
        print("$ click_sync.py blogs --clean --images", flush=True)
        subprocess.run(
            [sys.executable, str(EXAMPLE / "click_sync.py"), "blogs", "--clean", "--images"],
            env=local_env,
            check=True,
        )

        step("What the local project has now (the authors are scrubbed)")
        run(LOCAL, "demo_report", env=local_env)
    except BaseException:
        print(f"Server log: {log_path}")
        raise
    finally:
        stop(server)
        print(f"\nThe server (pid {server.pid}) is stopped.")
    print("The demo synced successfully. Run it again: it cleans and reloads.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
