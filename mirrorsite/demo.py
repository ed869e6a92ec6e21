"""`make demo`: bring the whole product up on local defaults, with the emulators standing in for
Pinecone and Gemini.

Runs as `python -m mirrorsite.demo [--no-serve]`. It starts the emulators with the seed plan's
indexes (source `gflops-serverless`, 1536-d; target `askdona`, 3072-d), migrates the database,
seeds a sample namespace (`seed_demo`), creates or resets an `admin` superuser with a freshly
generated password (printed), runs the main job (analysis, dry run, mirror, and a second mirror
that writes and embeds nothing), then serves the admin on http://127.0.0.1:8000/admin/ until
Ctrl-C, which stops every process it started. `--no-serve` stops after the main job.

The keys below are the emulators' own local keys, not secrets: they only open the emulators
this script starts on loopback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

PINECONE_PORT = int(os.environ.get("DEMO_PINECONE_PORT", "5080"))
GEMINI_PORT = int(os.environ.get("DEMO_GEMINI_PORT", "5090"))
WEB_PORT = int(os.environ.get("DEMO_WEB_PORT", "8000"))

SOURCE_INDEX = ("gflops-serverless", 1536)  # the seed plan's read-only source
TARGET_INDEX = ("askdona", 3072)  # the seed plan's target, sized for gemini-embedding-001

DEMO_NAMESPACE = "kb-articles"
DEMO_RUNS = (
    ("1. Analysis (read-only)", ("analyze_namespace", DEMO_NAMESPACE)),
    (
        "2. Mirror, dry run (writes and embeds nothing)",
        ("mirror_namespace", DEMO_NAMESPACE, "--dry-run"),
    ),
    ("3. Mirror", ("mirror_namespace", DEMO_NAMESPACE)),
    (
        "4. Mirror again (converged: zero writes, zero embeddings)",
        ("mirror_namespace", DEMO_NAMESPACE),
    ),
)

DEMO_ENV = {
    "DEBUG": "true",
    "PINECONE_API_KEY": "local-pinecone-key",
    # The source is read with a key the emulator accepts for reads only: a write would be 403.
    "PINECONE_SOURCE_API_KEY": "local-pinecone-readonly-key",
    "PINECONE_CONTROLLER_HOST": f"http://{HOST}:{PINECONE_PORT}",
    "GEMINI_API_KEY": "local-gemini-key",
    "GEMINI_BASE_URL": f"http://{HOST}:{GEMINI_PORT}",
}


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on {HOST}:{port} after {timeout:.0f}s")


class Processes:
    """The long-running children of the demo, stopped together however the demo ends.

    Each runs in a process group of its own, so the terminal's Ctrl-C reaches only the demo,
    which then stops them once each, in reverse order of start: the django-q2 cluster hangs if
    it gets a second signal while shutting down, and its workers are its children, so a group
    is also what must be killed if it does not stop in time.
    """

    STOP_TIMEOUT = 20.0

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.env, start_new_session=True
        )
        self.children.append((name, proc))
        return proc

    def run(self, args: Sequence[str], check: bool = True) -> int:
        return subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=self.env, check=check
        ).returncode

    def stop(self) -> None:
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    # SIGINT to the group, as a terminal's Ctrl-C: qcluster's workers ignore it
                    # and are stopped by their parent, whereas a SIGTERM each kills them under
                    # it and it waits for them forever.
                    os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(
                    f"{name} did not stop in {self.STOP_TIMEOUT:.0f} s; killing it", file=sys.stderr
                )
            # Whatever the child left behind in its group (the cluster's workers) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def wait_any(self) -> tuple[str, int]:
        """Block until a child exits; return its name and exit code."""
        while True:
            for name, proc in self.children:
                code = proc.poll()
                if code is not None:
                    return name, code
            time.sleep(0.5)


def ensure_users(admin_password: str, auditor_password: str) -> None:
    """Create, or reset the passwords of, `admin` (a superuser) and `auditor` (a member of
    "Sync auditors": sees everything, changes nothing), in this process's database."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from syncapp.services.roles import roles_ensure_groups

    _, auditors = roles_ensure_groups()
    user_model = get_user_model()
    for username, password, superuser in (
        ("admin", admin_password, True),
        ("auditor", auditor_password, False),
    ):
        user, _ = user_model.objects.get_or_create(
            username=username, defaults={"email": f"{username}@localhost"}
        )
        user.is_staff = True
        user.is_superuser = superuser
        user.set_password(password)
        user.save()
        if not superuser:
            user.groups.set([auditors])


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    no_serve = "--no-serve" in args
    # --skip-job: bring everything up on the fresh sample without running the main job (the
    # browser tests start from there, as a user who goes straight to the admin would).
    skip_job = "--skip-job" in args
    busy = [p for p in (PINECONE_PORT, GEMINI_PORT, WEB_PORT) if not port_is_free(p)]
    if busy:
        print(
            f"Port(s) {', '.join(map(str, busy))} on {HOST} are in use. Stop what uses them, or "
            "set DEMO_PINECONE_PORT / DEMO_GEMINI_PORT / DEMO_WEB_PORT.",
            file=sys.stderr,
        )
        return 1

    env = {**os.environ, **DEMO_ENV, "DJANGO_SETTINGS_MODULE": "mirrorsite.settings"}
    os.environ.update({k: v for k, v in env.items() if k in DEMO_ENV or k.startswith("DJANGO")})
    procs = Processes(env)
    # SIGTERM (e.g. from a supervisor) ends the demo the same way Ctrl-C does.
    # Ctrl-C reaches every process of the terminal's group; the demo then stops the rest in
    # order. SIGINT is restored explicitly because a shell starting us in the background hands
    # it down ignored; SIGTERM (a supervisor, the browser tests) ends the demo the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        procs.start(
            "emulators",
            [
                "-m",
                "emulators",
                "all",
                "--host",
                HOST,
                "--port",
                str(PINECONE_PORT),
                "--index",
                f"{SOURCE_INDEX[0]}:{SOURCE_INDEX[1]}",
                "--index",
                f"{TARGET_INDEX[0]}:{TARGET_INDEX[1]}",
                "--api-key",
                DEMO_ENV["PINECONE_API_KEY"],
                "--read-only-api-key",
                DEMO_ENV["PINECONE_SOURCE_API_KEY"],
                "--gemini-port",
                str(GEMINI_PORT),
                "--gemini-api-key",
                DEMO_ENV["GEMINI_API_KEY"],
                # Optional round-trip delay, as a real network has (e.g. 20 ms): runs then take
                # long enough to watch their progress in the admin.
                "--latency-ms",
                os.environ.get("DEMO_LATENCY_MS", "0"),
            ],
        )
        for port in (PINECONE_PORT, PINECONE_PORT + 1, PINECONE_PORT + 2, GEMINI_PORT):
            wait_for_port(port)

        procs.run(["manage.py", "migrate", "--no-input", "-v", "0"])
        procs.run(["manage.py", "seed_demo", "--namespace", DEMO_NAMESPACE])
        password = secrets.token_urlsafe(12)
        auditor_password = secrets.token_urlsafe(12)
        ensure_users(password, auditor_password)

        # The main job, as an operator would run it from a shell: look, rehearse, mirror, and
        # mirror again to show that a converged namespace costs nothing.
        for title, command in () if skip_job else DEMO_RUNS:
            print(f"\n=== {title} ===", flush=True)
            procs.run(["manage.py", *command], check=False)
        if no_serve:
            return 0

        # The django-q2 cluster executes the analyses and mirrors started from the admin.
        procs.start("task cluster", ["manage.py", "qcluster"])

        procs.start("web server", ["manage.py", "runserver", "--noreload", f"{HOST}:{WEB_PORT}"])
        wait_for_port(WEB_PORT)
        print(
            "\n"
            f"  Admin:     http://{HOST}:{WEB_PORT}/admin/\n"
            f"  User:      admin\n"
            f"  Password:  {password}\n"
            f"  Read-only: auditor / {auditor_password}\n"
            f"  Pinecone emulator control plane: {DEMO_ENV['PINECONE_CONTROLLER_HOST']}\n"
            f"  Gemini emulator:                 {DEMO_ENV['GEMINI_BASE_URL']}\n"
            f"  Task cluster:                    python manage.py qcluster (running)\n"
            "\n  Ctrl-C stops everything.\n",
            flush=True,
        )
        name, code = procs.wait_any()
        print(f"{name} exited with status {code}; stopping the demo", file=sys.stderr)
        return code or 1
    except KeyboardInterrupt:
        print("\nStopping the demo...", file=sys.stderr)
        return 0
    finally:
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
