"""Log lines as text or JSON, with the request id of the request they were written for."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from outage_voice import cli
from outage_voice.logs import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    log_handler,
    new_request_id,
    sane_request_id,
)
from outage_voice.services.request_context import bind_request, detached_context, unbind_request
from tests.support import cli_env, run_cli


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, dict[str, io.StringIO]]]:
    """A logger writing to one text and one JSON stream, through the handlers serve uses."""
    streams = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = [log_handler(name, stream) for name, stream in streams.items()]
    logger = logging.getLogger("outage_voice.test_logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield logger, streams
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.propagate = True


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_json_line_is_one_object_with_time_level_logger_message_and_extras(
    logged: tuple[logging.Logger, dict[str, io.StringIO]],
) -> None:
    logger, streams = logged
    logger.warning("dialer: %d calls\nplaced", 3, extra={"campaign_id": 7, "when": datetime.min})
    (line,) = lines(streams["json"])
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "outage_voice.test_logs"
    assert entry["message"] == "dialer: 3 calls\nplaced"  # one line: the break is escaped
    assert entry["campaign_id"] == 7
    assert entry["when"] == str(datetime.min)  # what JSON cannot hold is written as text
    assert entry["ts"].endswith("Z")
    written = datetime.fromisoformat(entry["ts"])
    assert written.tzinfo == UTC and abs(datetime.now(UTC) - written).total_seconds() < 60
    # Written outside any request: no id at all, rather than a made-up one.
    assert "request_id" not in entry and "call_sid" not in entry
    assert "taskName" not in entry and "args" not in entry


def test_an_exception_is_a_string_field_of_its_line(
    logged: tuple[logging.Logger, dict[str, io.StringIO]],
) -> None:
    logger, streams = logged
    try:
        raise RuntimeError("carrier gone")
    except RuntimeError:
        logger.exception("placing a call failed")
    (line,) = lines(streams["json"])
    entry = json.loads(line)
    assert entry["message"] == "placing a call failed"
    assert entry["exc"].startswith("Traceback (most recent call last)")
    assert entry["exc"].endswith("RuntimeError: carrier gone")


def test_lines_written_for_a_request_carry_its_id_and_call_sid(
    logged: tuple[logging.Logger, dict[str, io.StringIO]],
) -> None:
    logger, streams = logged
    tokens = bind_request("edge-7f3a", "CA0123")
    try:
        logger.info("spooled a report")
    finally:
        unbind_request(tokens)
    logger.info("dialer: placing calls on this instance")
    inside, outside = (json.loads(line) for line in lines(streams["json"]))
    assert (inside["request_id"], inside["call_sid"]) == ("edge-7f3a", "CA0123")
    assert "request_id" not in outside
    text_inside, text_outside = lines(streams["text"])
    assert text_inside.endswith(" INFO outage_voice.test_logs: [edge-7f3a] spooled a report")
    # The text line keeps its look when there is no request.
    assert text_outside.endswith(" INFO outage_voice.test_logs: dialer: placing calls on this "
                                 "instance")  # fmt: skip


async def test_a_task_started_by_a_request_but_serving_everyone_has_no_request_id(
    logged: tuple[logging.Logger, dict[str, io.StringIO]],
) -> None:
    logger, streams = logged

    async def write() -> None:
        logger.info("shared feed")

    tokens = bind_request("first-console")
    try:
        await asyncio.create_task(write())  # work for this request: its id
        await asyncio.create_task(write(), context=detached_context())
    finally:
        unbind_request(tokens)
    for_request, shared = (json.loads(line) for line in lines(streams["json"]))
    assert for_request["request_id"] == "first-console"
    assert "request_id" not in shared


@pytest.mark.parametrize(
    "given",
    [
        "abc",
        "5f0e4c2b9a1d43e8b7c6a5f4e3d2c1b0",  # nginx's $request_id
        "0f8fad5b-d9cb-469f-a165-70867728950e",  # a UUID
        "a.b_c-D9",
        "x" * 64,
    ],
)
def test_a_proxy_s_sane_request_id_is_kept(given: str) -> None:
    assert sane_request_id(given) == given


@pytest.mark.parametrize(
    "given",
    [None, "", "x" * 65, "two words", "id\nFAKE log line", 'quote"d', "ünïcode", "Root=1-6789"],
)
def test_a_request_id_that_could_not_be_logged_as_is_is_replaced(given: str | None) -> None:
    assert sane_request_id(given) is None


def test_made_request_ids_are_short_and_differ() -> None:
    made = {new_request_id() for _ in range(100)}
    assert len(made) == 100
    assert all(sane_request_id(one) == one and len(one) == 16 for one in made)


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without the test runner's handlers (added for each test's call, so
    not a fixture), as a fresh process has it."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    for handler in saved:
        root.removeHandler(handler)
    try:
        yield root
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(False)


@pytest.mark.parametrize(
    ("flag", "environment", "expected"),
    [
        ((), None, TextFormatter),
        ((), "json", JsonFormatter),
        (("--log-format", "json"), None, JsonFormatter),
        (("--log-format", "text"), "json", TextFormatter),  # the option wins
    ],
)
def test_the_log_format_comes_from_the_option_else_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    flag: tuple[str, ...],
    environment: str | None,
    expected: type[logging.Formatter],
) -> None:
    if environment is None:
        monkeypatch.delenv("OUTAGE_VOICE_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("OUTAGE_VOICE_LOG_FORMAT", environment)
    # A command that stops before touching a database: only the logging set-up matters here.
    with bare_root() as root:
        assert cli.main([*flag, "prompts", "warm", "--lang", "xx"]) == cli.EXIT_USAGE
        (handler,) = root.handlers
    assert type(handler.formatter) is expected


def test_an_unknown_log_format_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--log-format", "xml", "migrate"])
    assert stopped.value.code == cli.EXIT_USAGE
    assert "--log-format: invalid choice: 'xml'" in capsys.readouterr().err


def test_a_library_warning_is_a_line_of_the_log_in_its_format() -> None:
    stream = io.StringIO()
    with bare_root() as root:
        configure_logging(logging.INFO, "json", stream)
        assert len(root.handlers) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    (line,) = lines(stream)
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("WARNING", "py.warnings")
    assert "DeprecationWarning: an old API" in entry["message"]


def test_a_command_run_in_the_test_process_leaves_its_warnings_where_they_went() -> None:
    """main captures warnings into its log as a process of its own would; the in-process
    shell puts them back, so a later test's warnings are not lines of a log long gone."""
    before = warnings.showwarning
    done = run_cli(["prompts", "warm", "--lang", "xx"], env=cli_env())
    assert done.returncode == cli.EXIT_USAGE
    assert warnings.showwarning is before
