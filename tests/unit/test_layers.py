"""The layers as the architecture describes them: the domain stands alone, services reach
the world only through ports, the store ports exchange the domain's frozen values, and no
module's imports come back to it."""

from __future__ import annotations

import ast
import dataclasses
import datetime
import enum
import inspect
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import outage_voice
from outage_voice.services import call_records, ivr, ports
from outage_voice.services.outages import OutageService

PACKAGE = Path(outage_voice.__file__).parent
STORE_PORTS = (
    ports.CallPlacer,
    ports.OutageStore,
    ports.StatusStore,
    ports.CustomerStore,
    ports.TokenStore,
    ivr.IvrStore,
    call_records.CallRecordStore,
)
# Services whose callers hand them the domain's values: parsing JSON is the web layer's job.
TYPED_SERVICES = (OutageService,)
PLAIN = (str, int, float, bool, bytes, type(None), datetime.datetime, datetime.date)


def module_name(path: Path) -> str:
    parts = ["outage_voice", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, *, top_level_only: bool = False) -> Iterator[str]:
    """Every module this file imports, `from x import y` as both x and x.y."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def own(name: str, known: dict[str, Path]) -> str | None:
    """The package module a dotted name refers to, if any."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_the_domain_imports_nothing_from_the_other_layers() -> None:
    known = modules()
    outside = {
        (name, target)
        for name, path in known.items()
        if name.startswith("outage_voice.domain")
        for imported in imports(path)
        if (target := own(imported, known)) and not target.startswith("outage_voice.domain")
    }
    assert not outside


def test_services_reach_the_world_only_through_ports() -> None:
    known = modules()
    reaching = {
        (name, imported)
        for name, path in known.items()
        if name.startswith("outage_voice.services")
        for imported in imports(path)
        if imported.split(".")[0] in ("asyncpg", "aiohttp", "twilio")
        or imported.startswith(("outage_voice.adapters", "outage_voice.web"))
    }
    assert not reaching


def test_no_module_s_imports_come_back_to_it() -> None:
    """Module-level imports only: an import inside a function is how a cycle is broken."""
    known = modules()
    edges = {
        name: {
            target
            for imported in imports(path, top_level_only=True)
            if (target := own(imported, known)) and target != name
        }
        for name, path in known.items()
    }
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError(" -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])


def leaks(hint: object, seen: set[type]) -> Iterator[str]:
    """What in a port's signature is not a plain value or one of the domain's frozen ones."""
    origin = typing.get_origin(hint)
    if hint is typing.Any or hint is object:
        yield "Any"
    elif origin is not None:
        args = typing.get_args(hint)
        if origin in (dict, typing.get_origin(typing.Mapping[str, int])):
            yield f"a mapping {hint}"
        elif origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            yield f"a bare tuple {hint}"
        for arg in args:
            if arg is not Ellipsis:
                yield from leaks(arg, seen)
    elif isinstance(hint, types.UnionType):
        for arg in typing.get_args(hint):
            yield from leaks(arg, seen)
    elif isinstance(hint, type):
        if hint in PLAIN or hint in seen:
            return
        seen.add(hint)
        if not hint.__module__.startswith("outage_voice.domain"):
            yield f"{hint.__module__}.{hint.__qualname__} from outside the domain"
        elif dataclasses.is_dataclass(hint):
            # No public API says whether a dataclass is frozen; its params are the record.
            if not hint.__dataclass_params__.frozen:  # type: ignore[attr-defined]
                yield f"{hint.__qualname__} is not frozen"
            for name, field_hint in typing.get_type_hints(hint).items():
                yield from (
                    f"{hint.__qualname__}.{name}: {leak}" for leak in leaks(field_hint, seen)
                )
        elif not issubclass(hint, enum.Enum):
            yield f"{hint.__qualname__} is neither a frozen dataclass nor an enum"
    else:
        yield f"an unexpected annotation {hint!r}"


@pytest.mark.parametrize("port", STORE_PORTS, ids=lambda port: port.__name__)
def test_store_ports_exchange_the_domain_s_frozen_values(port: type) -> None:
    found: list[str] = []
    for name, method in inspect.getmembers(port, inspect.isfunction):
        if name.startswith("_"):
            continue
        for hint in typing.get_type_hints(method).values():
            found.extend(f"{port.__name__}.{name}: {leak}" for leak in leaks(hint, set()))
    assert not found


@pytest.mark.parametrize("service", TYPED_SERVICES, ids=lambda service: service.__name__)
def test_services_take_and_return_the_domain_s_frozen_values(service: type) -> None:
    found: list[str] = []
    for name, method in inspect.getmembers(service, inspect.isfunction):
        if name.startswith("_"):
            continue
        for hint in typing.get_type_hints(method).values():
            found.extend(f"{service.__name__}.{name}: {leak}" for leak in leaks(hint, set()))
    assert not found


def test_the_console_store_takes_its_types_from_the_ports_not_the_feed() -> None:
    found = set(imports(PACKAGE / "adapters" / "db" / "console.py"))
    assert "outage_voice.services.console_ports" in found
    assert not any(name.startswith("outage_voice.services.console_feed") for name in found)
