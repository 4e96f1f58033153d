"""docker-compose.yml, the Dockerfile, the Procfile and .env.example checked against what the app really reads and runs.

There is no Docker engine here, so these tests read the files: services and profiles, health checks, every
variable against the settings that read it, and every command against the programs, management commands and
options that exist.
"""

import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, get_commands, load_command_class
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from gunicorn.config import Config as GunicornConfig

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = [name for name, service in SERVICES.items() if "build" in service]
TEAM_SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}
LONG_RUNNING = {"postgres", "redis", "web", "worker", "beat", "simulator"}
# Read by the tools themselves, not by settings.py.
TOOL_VARIABLES = {"DJANGO_SETTINGS_MODULE"}


def names_in(path: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, (ROOT / path).read_text(), flags=re.MULTILINE))


SETTINGS_NAMES = names_in("dashboard/settings.py", r'env(?:bool|int|float)?\(\s*"([A-Z][A-Z0-9_]*)"')
# make run's own knobs; PATH and PYTHONUNBUFFERED are plumbing for its children, and VAR_FILE works for any VAR.
RUN_SCRIPT_NAMES = {
    name
    for name in names_in("scripts/run.py", r'env(?:\.get|\.setdefault)?[\[(]\s*"([A-Z][A-Z0-9_]*)"')
    if name not in ("PATH", "PYTHONUNBUFFERED") and not name.endswith("_FILE")
}
# ${VAR}, ${VAR:-default}, ${VAR:?message}; $${VAR} is left to the container's shell.
COMPOSE_INTERPOLATED = names_in("docker-compose.yml", r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)")
EXAMPLE_NAMES = names_in(".env.example", r"^#?\s*([A-Z][A-Z0-9_]*)=")


def expand(text: str) -> str:
    """Shell and compose defaults filled in, so a command line can be parsed as it would run."""
    text = re.sub(r"\$?\$\{[A-Z][A-Z0-9_]*:-([^}]*)\}", r"\1", text)
    text = re.sub(r"\$?\$\{[A-Z][A-Z0-9_]*(:\?[^}]*)?\}", "value", text)
    return re.sub(r"\$?\$[A-Z][A-Z0-9_]*", "value", text)


def as_argv(command) -> list[str]:
    if isinstance(command, str):
        return shlex.split(expand(command))
    return [expand(part) for part in command]


def procfile_commands() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    pairs = (line.split(":", 1) for line in lines if line and not line.startswith("#"))
    return {name.strip(): as_argv(command) for name, command in pairs}


def check_command(argv: list[str]) -> None:
    """Fail unless argv runs something that exists with options it accepts."""
    if argv[:2] == ["sh", "-c"]:
        for part in argv[2].split("&&"):
            check_command(as_argv(part.strip().removeprefix("exec ")))
    elif argv[:2] == ["python", "manage.py"]:
        check_management_command(argv[2], argv[3:])
    elif argv[:2] == ["python", "-c"]:
        compile(argv[2], "<healthcheck>", "exec")
    elif argv[0] == "celery":
        # --help after the options: click parses them all (unknown ones fail) and loads the -A app first.
        done = subprocess.run([sys.executable, "-m", *argv, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"{argv}: {done.stderr[-2000:]}"
    elif argv[0] == "gunicorn":
        parsed = GunicornConfig().parser().parse_args(argv[1:])
        module = __import__(parsed.args[0], fromlist=["application"])
        assert callable(module.application)
    else:
        raise AssertionError(f"unexpected program in {argv}")


def check_management_command(name: str, args: list[str]) -> None:
    commands = get_commands()
    assert name in commands, f"manage.py {name} does not exist"
    command = load_command_class(commands[name], name)
    command.create_parser("manage.py", name).parse_args(args)


def test_compose_has_the_team_services_and_the_demo_under_a_profile():
    """postgres, redis, migrate, web, worker and beat always run; the simulator and demo traffic only in `demo`."""
    assert set(SERVICES) >= TEAM_SERVICES | {"simulator", "demo"}
    for name in TEAM_SERVICES:
        assert "profiles" not in SERVICES[name], name
    assert SERVICES["simulator"]["profiles"] == ["demo"]
    assert SERVICES["demo"]["profiles"] == ["demo"]


def test_app_services_share_one_image_and_wait_for_the_database_the_broker_and_migrations():
    """Every app service builds the one image; web, worker, beat and demo start after postgres, redis and migrate."""
    assert set(APP_SERVICES) == {"migrate", "web", "worker", "beat", "simulator", "demo"}
    assert {SERVICES[name]["image"] for name in APP_SERVICES} == {"runpod-dashboard:latest"}
    assert {SERVICES[name]["build"] for name in APP_SERVICES} == {"."}
    for name in ("web", "worker", "beat", "demo"):
        depends = SERVICES[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["demo"]["depends_on"]["simulator"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_health_check():
    """postgres, redis, web, worker, beat and the simulator each say how to tell they are healthy."""
    for name in LONG_RUNNING:
        check = SERVICES[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert check.get("interval"), name


def test_commands_and_health_checks_run_real_programs_with_options_they_accept():
    """Each compose command and health check names a real management command, Celery app, WSGI module or code."""
    for name in APP_SERVICES:
        check_command(as_argv(SERVICES[name]["command"]))
        test = SERVICES[name].get("healthcheck", {}).get("test")
        if test:
            check_command(as_argv(test[1]) if test[0] == "CMD-SHELL" else as_argv(test[1:]))


def test_procfile_runs_the_same_programs_as_compose():
    """The Procfile of `make run` has web, worker, beat, sim and traffic, all runnable as written."""
    commands = procfile_commands()
    assert set(commands) == {"web", "worker", "beat", "sim", "traffic"}
    for argv in commands.values():
        check_command(argv)
    for name in ("web", "worker", "beat"):
        assert commands[name][:2] == as_argv(SERVICES[name]["command"])[:2], name


def test_check_command_refuses_what_does_not_exist():
    """The command check itself fails on an unknown management command, option or Celery subcommand."""
    for argv in (
        ["python", "manage.py", "no_such_command"],
        ["python", "manage.py", "runpod_simulator", "--no-such-option"],
        ["celery", "-A", "dashboard", "worker", "--no-such-option"],
        ["gunicorn", "dashboard.no_such_module"],
    ):
        with pytest.raises((AssertionError, CommandError, ImportError, SystemExit)):
            check_command(argv)


def test_every_variable_compose_gives_the_app_is_one_the_settings_read():
    """No variable in an app service's environment is ignored: settings.py reads each of them."""
    for name in APP_SERVICES:
        unknown = set(SERVICES[name].get("environment", {})) - SETTINGS_NAMES - TOOL_VARIABLES
        assert not unknown, f"{name} sets {sorted(unknown)}, which nothing reads"


def test_env_example_explains_every_setting_and_every_compose_variable():
    """.env.example lists every variable settings.py, scripts/run.py and the compose file read, and only those."""
    missing = (SETTINGS_NAMES | RUN_SCRIPT_NAMES | COMPOSE_INTERPOLATED) - EXAMPLE_NAMES
    assert not missing, f".env.example does not explain {sorted(missing)}"
    unused = EXAMPLE_NAMES - SETTINGS_NAMES - RUN_SCRIPT_NAMES - COMPOSE_INTERPOLATED
    assert not unused, f".env.example lists {sorted(unused)}, which nothing reads"


def test_each_env_example_variable_has_a_comment_above_it():
    """Every variable line sits under a comment that says what it does (blocks are separated by blank lines)."""
    explained = False
    for line in (ROOT / ".env.example").read_text().splitlines():
        if not line.strip():
            explained = False
        elif re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", line):
            assert explained, f"no explanation above {line!r}"
        elif line.startswith("#") and not line.startswith("# ----"):
            explained = True


def test_compose_refuses_to_start_without_the_secrets():
    """SECRET_KEY and POSTGRES_PASSWORD use ${VAR:?...}, so compose stops with a message when they are unset."""
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${SECRET_KEY:?" in text
    assert "${POSTGRES_PASSWORD:?" in text
    assert "${POSTGRES_PASSWORD:-" not in text and "${SECRET_KEY:-" not in text


def test_web_serves_on_the_port_compose_publishes_and_the_image_exposes():
    """gunicorn binds 0.0.0.0:8000, the web service publishes container port 8000, and the Dockerfile exposes it."""
    argv = as_argv(SERVICES["web"]["command"])
    assert "--bind=0.0.0.0:8000" in argv
    assert [port.rsplit(":", 1)[1] for port in SERVICES["web"]["ports"]] == ["8000"]
    assert "EXPOSE 8000" in (ROOT / "Dockerfile").read_text()
    assert "ports" not in SERVICES["simulator"], "the simulator's control routes take no key: keep it unpublished"


def test_dockerfile_installs_the_locked_runtime_requirements_and_runs_unprivileged():
    """The image installs base.in under the lock file, collects static files for whitenoise and drops root."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements/ requirements/" in dockerfile
    assert "pip install -r requirements/base.in -c requirements/lock.txt" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    assert re.search(r"^USER app$", dockerfile, flags=re.MULTILINE)
    base = (ROOT / "requirements/base.in").read_text().lower()
    for package in ("gunicorn", "whitenoise", "psycopg", "celery[redis]"):
        assert package in base, f"the image needs {package}"
    cmd = re.search(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE).group(1)
    check_command(as_argv(yaml.safe_load(cmd)))


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    """.env, the virtualenv, local databases and git history never reach the build context."""
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", "var", ".git", "*.sqlite3"} <= ignored
    assert "!.env.example" in ignored


@pytest.mark.django_db
def test_beat_health_check_passes_only_while_the_poll_schedule_runs():
    """The beat health check exits 0 with a recent poll tick in the schedule table and 1 with a stale one."""
    code = SERVICES["beat"]["healthcheck"]["test"][-1]
    every = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name="poll-due-jobs", task="jobs.tasks.poll_tick", interval=every, last_run_at=timezone.now()
    )

    def exit_code():
        with pytest.raises(SystemExit) as exited:
            exec(code, {})  # noqa: S102 - the health check's own code, from our compose file
        return int(exited.value.code)

    assert exit_code() == 0
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(minutes=10))
    assert exit_code() == 1
