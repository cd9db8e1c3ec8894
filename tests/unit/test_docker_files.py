"""The deployment files in docker/ agree with the product: they parse, every variable they set
is one the configuration reads (and every one it reads is documented in .env.example), the
command and health check they run exist, and the build context holds what the install needs.

No image can be built here, so this is what can be checked without one; the install step itself
is run in tests/integration/test_docker_install.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from outage_voice import cli
from outage_voice.bootstrap import create_app
from outage_voice.config import ENVIRONMENT_VARIABLES, ConfigError, load_settings
from tests.support import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
NGINX = DOCKER / "nginx.conf"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
INSTANCES = ("ov1", "ov2")
# The official postgres image's own variables, read by the db service only.
POSTGRES_VARIABLES = frozenset({"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB"})
SECRETS = ("POSTGRES_PASSWORD", "TWILIO_AUTH_TOKEN", "TWILIO_WEBHOOK_SHARED_KEY")
INSTRUCTIONS = frozenset(
    {
        "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
        "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    }
)  # fmt: skip


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instruction:
    name: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD."""
        parsed = json.loads(self.args)
        assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), self
        return parsed


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions as Docker reads them: comments and blank lines dropped, a trailing
    backslash continues the instruction on the next line (comments inside it skipped)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if continued:
            continue
        whole = " ".join(pending)
        pending = []
        name, _, args = whole.partition(" ")
        instructions.append(Instruction(name.upper(), args.strip(), start))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def only(instructions: list[Instruction], name: str) -> Instruction:
    found = [i for i in instructions if i.name == name]
    assert len(found) == 1, (name, found)
    return found[0]


def env_assignments(instruction: Instruction) -> dict[str, str]:
    """`ENV A=1 B="two words"` (the key=value form; the legacy `ENV A 1` is refused)."""
    pairs = {}
    for word in shlex.split(instruction.args):
        key, equals, value = word.partition("=")
        assert equals, f"line {instruction.line}: use ENV KEY=VALUE"
        pairs[key] = value
    return pairs


def image_env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.name == "ENV":
            env.update(env_assignments(instruction))
    return env


def copies(instructions: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context."""
    found = []
    for instruction in instructions:
        if instruction.name == "COPY":
            words = shlex.split(instruction.args)
            assert not any(w.startswith("--from") for w in words), "one stage only"
            words = [w for w in words if not w.startswith("--")]
            found.append((words[:-1], words[-1]))
    return found


def install_step(instructions: list[Instruction]) -> list[str]:
    """The RUN that installs the project, as argv: `pip install [options] /src`."""
    runs = [i for i in instructions if i.name == "RUN" and "pip install" in i.args]
    assert len(runs) == 1, runs
    argv = shlex.split(runs[0].args)
    assert argv[:2] == ["pip", "install"], "the install step is one pip command"
    assert not {"&&", ";", "|", "||"} & set(argv), "the install step is one pip command"
    return argv


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    args = only(instructions, "HEALTHCHECK").args
    _, _, form = re.split(r"(?:^|\s)(CMD)\s", args, maxsplit=1)
    return Instruction("CMD", form.strip(), 0).exec_form()


def test_every_instruction_is_one_docker_knows_and_the_base_is_slim_python() -> None:
    instructions = dockerfile()
    assert {i.name for i in instructions} <= INSTRUCTIONS
    assert instructions[0].name == "FROM"
    assert only(instructions, "FROM").args == "python:3.11-slim"


def test_the_parser_reads_continued_lines_and_skips_comments() -> None:
    parsed = parse_dockerfile('# c\nFROM x\nRUN a \\\n    # inside\n    && b\n\nCMD ["c"]\n')
    assert parsed == [
        Instruction("FROM", "x", 2),
        Instruction("RUN", "a && b", 3),
        Instruction("CMD", '["c"]', 7),
    ]


def test_it_runs_serve_as_a_user_of_its_own_with_its_state_on_a_volume() -> None:
    instructions = dockerfile()
    user = only(instructions, "USER").args
    assert user not in ("root", "0", "")
    assert [i.name for i in instructions].index("USER") > max(
        n for n, i in enumerate(instructions) if i.name == "RUN"
    ), "everything after USER runs unprivileged; the installs come before it"
    assert any(re.search(rf"useradd\b[^&;|]*\s{user}(?:\s|$)", i.args) for i in instructions)
    env = image_env(instructions)
    assert set(env) <= ENVIRONMENT_VARIABLES, "every variable the image sets is one config reads"
    home = env["OUTAGE_VOICE_HOME"]
    assert json.loads(only(instructions, "VOLUME").args) == [home]
    assert only(instructions, "WORKDIR").args == home
    owner = next(i for i in instructions if "chown" in i.args)
    assert f"chown {user}:{user} {home}" in owner.args


def test_its_command_is_serve_with_options_the_cli_knows() -> None:
    instructions = dockerfile()
    command = only(instructions, "CMD").exec_form()
    assert "ENTRYPOINT" not in {i.name for i in instructions}
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert command[0] in scripts["project"]["scripts"], "the project's console script"
    args = cli._parser().parse_args(command[1:])  # an unknown option exits here
    assert args.command == "serve"
    assert args.host == "0.0.0.0"
    assert str(args.port) == only(instructions, "EXPOSE").args


def app_paths() -> set[str]:
    app = create_app(load_settings({}), run_dialer=False)
    return {resource.canonical for resource in app.router.resources()}


def test_its_health_check_asks_healthz_on_the_served_port() -> None:
    instructions = dockerfile()
    check = healthcheck_command(instructions)
    assert check[:2] == ["python", "-c"], "no curl in a slim image: Python asks"
    url = re.search(r"'(http://[^']+)'", check[2])
    assert url is not None, check
    parts = urlsplit(url.group(1))
    assert parts.hostname == "127.0.0.1"
    assert str(parts.port) == only(instructions, "EXPOSE").args
    assert parts.path in app_paths()
    assert parts.path == "/healthz"


def pyproject_build_inputs() -> set[str]:
    """What hatchling reads to build the wheel: the readme, the package, forced includes."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    return {
        "pyproject.toml",
        project["project"]["readme"],
        *wheel["packages"],
        *wheel["force-include"],
    }


def test_it_copies_everything_the_package_is_built_from_and_installs_that() -> None:
    instructions = dockerfile()
    copied: dict[str, PurePosixPath] = {}
    for sources, destination in copies(instructions):
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
            target = PurePosixPath(destination)
            copied[source] = target / source if destination.endswith("/") else target
    for needed in pyproject_build_inputs():
        assert any(needed == s or needed.startswith(s + "/") for s in copied), needed
    # Every copy lands in the one folder pip installs from, where pyproject.toml is.
    project_dir = copied["pyproject.toml"].parent
    assert all(p == project_dir / s.split("/")[0] for s, p in copied.items()), copied
    argv = install_step(instructions)
    assert argv[-1] == str(project_dir)
    assert "--no-cache-dir" in argv


# --- .dockerignore ------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def dockerignore_excludes(text: str) -> Callable[[str], bool]:
    """Docker's rule: patterns in order, the last one matching the path or one of its parent
    folders decides; `!` re-includes."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _glob(line.lstrip("!").strip("/"))))

    def excluded(path: str) -> bool:
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for negated, rule in rules:
            if any(rule.fullmatch(prefix) for prefix in prefixes):
                result = not negated
        return result

    return excluded


def test_the_dockerignore_matcher_follows_dockers_rules() -> None:
    excluded = dockerignore_excludes("*\n!src\n**/__pycache__\n")
    assert excluded(".venv/bin/python")
    assert not excluded("src/pkg/mod.py")
    assert excluded("src/pkg/__pycache__/mod.pyc")


def test_the_build_context_holds_what_the_image_copies_and_no_secrets() -> None:
    excluded = dockerignore_excludes(DOCKERIGNORE.read_text(encoding="utf-8"))
    for sources, _ in copies(dockerfile()):
        for source in sources:
            path = REPO_ROOT / source
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            kept = [f for f in files if not excluded(f.relative_to(REPO_ROOT).as_posix())]
            assert kept, f"{source} is left out of the build context"
            if path.is_dir():  # the sources themselves, not only some of them
                sources_kept = {f for f in kept if "__pycache__" not in f.parts}
                assert sources_kept == {f for f in files if "__pycache__" not in f.parts}
    for private in ("docker/.env", ".venv/bin/python", ".git/config", ".outage-voice/pgdata"):
        assert excluded(private), private


# --- .env.example ---------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^(?P<comment>#\s*)?(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True, slots=True)
class EnvExample:
    assigned: dict[str, str]  # NAME=value lines
    commented: dict[str, str]  # "# NAME=default" lines


def env_example() -> EnvExample:
    assigned: dict[str, str] = {}
    commented: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line.strip())
        if match is None:
            continue
        key = match["key"]
        assert key not in assigned and key not in commented, f"{key} twice"
        (commented if match["comment"] else assigned)[key] = match["value"]
    return EnvExample(assigned, commented)


def test_env_example_documents_every_variable_the_configuration_reads_and_no_other() -> None:
    example = env_example()
    documented = set(example.assigned) | set(example.commented)
    assert documented - ENVIRONMENT_VARIABLES == {"POSTGRES_PASSWORD"}
    assert ENVIRONMENT_VARIABLES - documented == set()


def test_env_example_leaves_every_secret_blank() -> None:
    example = env_example()
    for secret in SECRETS:
        assert example.assigned.get(secret) == "", secret


def test_env_example_values_and_documented_defaults_are_valid() -> None:
    example = env_example()
    base = {k: v for k, v in example.assigned.items() if k in ENVIRONMENT_VARIABLES}
    load_settings(base)
    for key, value in example.commented.items():
        try:
            load_settings({**base, key: value})
        except ConfigError as exc:  # pragma: no cover - the failure message
            pytest.fail(f".env.example shows {key}={value}, which is refused: {exc}")


# --- compose.yaml ---------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


_INNERMOST = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^${}]*))?\}"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} (nested) and ${NAME:?message}, innermost first."""
    for _ in range(10):
        match = _INNERMOST.search(value)
        if match is None:
            return value
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = env.get(name)
        empty = current is None or (current == "" and op and op.startswith(":"))
        if op and op.endswith("?") and empty:
            raise LookupError(arg)
        replacement = arg if (op and op.endswith("-") and empty) else (current or "")
        value = value[: match.start()] + replacement + value[match.end() :]
    raise AssertionError("nested too deep")


def referenced_variables(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def test_compose_runs_postgres_two_instances_and_a_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "proxy", *INSTANCES}
    db = services["db"]
    assert db["image"] == "postgres:16"
    volume, _, target = db["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data" and volume in compose()["volumes"]
    assert "pg_isready" in db["healthcheck"]["test"]
    assert set(environment_of(db)) <= POSTGRES_VARIABLES
    for name in INSTANCES:
        service = services[name]
        assert (COMPOSE.parent / service["build"]["context"]).resolve() == REPO_ROOT
        assert service["build"]["dockerfile"] == DOCKERFILE.relative_to(REPO_ROOT).as_posix()
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["env_file"] == ".env"
        assert "ports" not in service, "instances are reached through the proxy only"
    assert set(services["proxy"]["depends_on"]) == set(INSTANCES)


def test_every_variable_compose_sets_for_an_instance_is_one_the_configuration_reads() -> None:
    services = compose()["services"]
    for name in INSTANCES:
        env = environment_of(services[name])
        assert set(env) <= ENVIRONMENT_VARIABLES, name
        assert env["OUTAGE_VOICE_PUBLIC_URL"].startswith("${OUTAGE_VOICE_PUBLIC_URL")
        assert "command" not in services[name] and "entrypoint" not in services[name]


def test_compose_and_the_example_settings_make_a_configuration_serve_accepts() -> None:
    """What an instance sees after `cp .env.example .env` and a password: env_file first, the
    service's environment over it, both interpolated as compose does."""
    example = env_example()
    dotenv = {**example.assigned, "POSTGRES_PASSWORD": "0123abcd"}
    instance = compose()["services"]["ov1"]
    seen = dict(dotenv)
    seen.update({k: interpolate(v, dotenv) for k, v in environment_of(instance).items()})
    settings = load_settings({k: v for k, v in seen.items() if k in ENVIRONMENT_VARIABLES})
    assert settings.database_url == "postgresql://outage_voice:0123abcd@db:5432/outage_voice"
    assert str(settings.home) == image_env(dockerfile())["OUTAGE_VOICE_HOME"]
    # A managed database in .env replaces the db service.
    managed = "postgresql://ov:pw@pg.example.net:5432/ov?sslmode=require"
    assert (
        interpolate(environment_of(instance)["DATABASE_URL"], {**dotenv, "DATABASE_URL": managed})
        == managed
    )
    # Without a password the database refuses to start, and compose says why.
    db = compose()["services"]["db"]
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        interpolate(environment_of(db)["POSTGRES_PASSWORD"], example.assigned)
    with pytest.raises(LookupError, match="OUTAGE_VOICE_PUBLIC_URL"):
        interpolate(environment_of(instance)["OUTAGE_VOICE_PUBLIC_URL"], {})


def test_every_variable_compose_interpolates_is_in_the_example() -> None:
    example = env_example()
    documented = set(example.assigned) | set(example.commented)
    assert referenced_variables(COMPOSE.read_text(encoding="utf-8")) <= documented


def test_each_instance_keeps_its_state_on_a_named_volume_of_its_own() -> None:
    document = compose()
    home = image_env(dockerfile())["OUTAGE_VOICE_HOME"]
    seen = set()
    for name in INSTANCES:
        service = document["services"][name]
        assert environment_of(service)["OUTAGE_VOICE_HOME"] == home
        (mount,) = service["volumes"]
        volume, _, target = mount.partition(":")
        assert target == home and volume in document["volumes"]
        seen.add(volume)
    assert len(seen) == len(INSTANCES), "a spool is replayed by the instance that wrote it"


def test_the_proxy_trusted_by_default_is_the_compose_network() -> None:
    document = compose()
    (subnet,) = [c["subnet"] for c in document["networks"]["default"]["ipam"]["config"]]
    env = environment_of(document["services"]["ov1"])
    trusted = interpolate(env["OUTAGE_VOICE_TRUSTED_PROXIES"], env_example().assigned)
    assert trusted == subnet


# --- the proxy ------------------------------------------------------------------------------


def nginx_upstreams() -> dict[str, list[str]]:
    text = NGINX.read_text(encoding="utf-8")
    upstreams = {}
    for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", text, re.S):
        upstreams[name] = re.findall(r"^\s*server\s+(\S+)", body, re.M)
    return upstreams


def test_the_proxy_round_robins_over_both_instances_and_passes_the_request_id() -> None:
    document = compose()
    proxy = document["services"]["proxy"]
    source, _, target = proxy["volumes"][0].partition(":")
    assert (COMPOSE.parent / source).resolve() == NGINX
    assert target.startswith("/etc/nginx/conf.d/")
    text = NGINX.read_text(encoding="utf-8")
    main = nginx_upstreams()["outage_voice"]
    assert main == [f"{name}:8080" for name in INSTANCES]
    assert "ip_hash" not in text and "hash " not in text, "round robin"
    for header in ("X-Forwarded-For", "X-Request-Id"):
        assert re.search(rf"proxy_set_header\s+{header}\s", text), header
    for upstream in re.findall(r"proxy_pass\s+http://(\w+)", text):
        assert upstream in nginx_upstreams()
    (published,) = proxy["ports"]
    listen = re.search(r"listen\s+(\d+)", text)
    assert listen is not None and published.endswith(f":{listen.group(1)}")
    # The trial's public URL is the proxy, as the instances and the carrier reach it.
    public = urlsplit(env_example().assigned["OUTAGE_VOICE_PUBLIC_URL"])
    assert (public.hostname, str(public.port)) == ("proxy", listen.group(1))


def test_the_built_in_carrier_is_reached_on_one_instance() -> None:
    """Its calls live in one instance's memory: the dialer must find them where it made them."""
    from outage_voice.bootstrap import VIRTUAL_CARRIER_PREFIX

    text = NGINX.read_text(encoding="utf-8")
    location = re.search(
        rf"location\s+{re.escape(VIRTUAL_CARRIER_PREFIX)}/\s*\{{\s*proxy_pass\s+http://(\w+)", text
    )
    assert location is not None
    assert len(nginx_upstreams()[location.group(1)]) == 1


# The `resolve` parameter of an upstream server (re-resolving a name while running) came to the
# free nginx in 1.27.3; older ones refuse the configuration.
NGINX_RESOLVE_SINCE = (1, 27, 3)
NGINX_TIMEOUT_S = 30.0


def nginx_binary() -> str | None:
    """The nginx on this machine (Debian puts it in /usr/sbin, often off a user's PATH)."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def version_of(text: str) -> tuple[int, ...]:
    """`1.28-alpine` or `nginx/1.22.1` -> (1, 28, 0) or (1, 22, 1): missing parts count as 0, so
    a tag naming only a minor version is taken at its oldest release."""
    match = re.search(r"(\d+(?:\.\d+){0,2})", text)
    assert match is not None, text
    parts = [int(p) for p in match.group(1).split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_the_proxy_image_is_an_nginx_that_knows_every_parameter_the_configuration_uses() -> None:
    image = compose()["services"]["proxy"]["image"]
    name, _, tag = image.partition(":")
    assert name == "nginx" and tag, "a pinned nginx image"
    if re.search(r"^\s*server\s+\S+\s+[^;]*\bresolve\b", NGINX.read_text(encoding="utf-8"), re.M):
        assert version_of(tag) >= NGINX_RESOLVE_SINCE, (
            f"{image}: `resolve` needs nginx 1.27.3 or later"
        )


def nginx_test_config(version: tuple[int, ...]) -> str:
    """docker/nginx.conf as this machine's nginx can check it: the instances' names (which only
    Docker's DNS knows) become 127.0.0.1 and, on an nginx older than 1.27.3, the upstream
    servers lose `resolve`. Nothing else changes."""
    text = NGINX.read_text(encoding="utf-8")
    servers = sum(len(s) for s in nginx_upstreams().values())
    names = "|".join(map(re.escape, INSTANCES))
    adapted, mapped = re.subn(rf"^(\s*server\s+)(?:{names}):", r"\g<1>127.0.0.1:", text, flags=re.M)
    assert mapped == servers, "every upstream server is an instance of compose.yaml"
    if version < NGINX_RESOLVE_SINCE:
        adapted = re.sub(r"^(\s*server\s+\S+)\s+resolve\b", r"\1", adapted, flags=re.M)
    return adapted


def test_the_proxy_configuration_passes_nginx_own_check(tmp_path: Path) -> None:
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip("no nginx on this machine to check docker/nginx.conf with (apt install nginx)")
    shown = subprocess.run(
        [nginx, "-v"], capture_output=True, text=True, timeout=NGINX_TIMEOUT_S, check=True
    )
    version = version_of(shown.stderr + shown.stdout)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(nginx_test_config(version), encoding="utf-8")
    # What the nginx image's own /etc/nginx/nginx.conf wraps conf.d/*.conf in, with every file
    # nginx writes kept in this folder.
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\n"
        f"http {{\n{temp_paths}    include {tmp_path / 'conf.d'}/*.conf;\n}}\n",
        encoding="utf-8",
    )
    # -e (1.19.5 on) keeps nginx from opening its default error log, outside this folder.
    log = ["-e", "stderr"] if version >= (1, 19, 5) else []
    checked = subprocess.run(
        [nginx, "-t", "-q", *log, "-p", f"{tmp_path}/", "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=NGINX_TIMEOUT_S,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


# --- the guide ------------------------------------------------------------------------------

OPERATIONS = REPO_ROOT / "docs" / "operations.md"


def guide_section(title: str) -> str:
    text = OPERATIONS.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None and match.group(1).strip(), f"operations.md: {title} is empty"
    return match.group(1)


def shell_commands(markdown: str) -> list[str]:
    """The commands in ```sh blocks, continued lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line:
                commands.extend(part.strip() for part in line.split("&&"))
    return commands


@pytest.mark.parametrize("title", ["Deploy with compose", "Upgrades and rolling restarts"])
def test_every_outage_voice_command_in_the_guide_is_one_the_cli_takes(title: str) -> None:
    commands = [c for c in shell_commands(guide_section(title)) if "outage-voice " in c]
    assert commands
    for command in commands:
        words = shlex.split(command)
        services = [w for w in words if w in INSTANCES]
        assert services, f"{command}: runs in an instance of compose.yaml"
        args = words[words.index("outage-voice") + 1 :]
        try:
            cli._parser().parse_args(args)
        except SystemExit:  # pragma: no cover - the failure message
            pytest.fail(f"operations.md, {title}: {command!r} is not a command outage-voice takes")


def test_every_metric_the_alerts_name_is_one_the_server_exports() -> None:
    source = (REPO_ROOT / "src" / "outage_voice" / "services" / "metrics.py").read_text(
        encoding="utf-8"
    )
    named = set(re.findall(r"\boutage_voice_[a-z_]+", guide_section("What to alert on")))
    assert len(named) >= 8
    for name in named:
        base = re.sub(r"_(bucket|count|sum|total)$", "", name)
        assert f'f"{{PREFIX}}_{base.removeprefix("outage_voice_")}"' in source, name


def test_the_readme_quick_start_uses_the_files_it_names() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Production quick start\n(.*?)(?=^## )", readme, re.M | re.S)
    assert section is not None
    commands = shell_commands(section.group(1))
    assert commands == ["cd docker", "cp .env.example .env", "docker compose up"]
    assert ENV_EXAMPLE.exists() and COMPOSE.name == "compose.yaml"
    # The two commands of the first quick start are still there.
    assert "pip install -e . && .venv/bin/outage-voice demo" in readme
    assert "python3 scripts/check.py" in readme
