"""What the runner takes from agents and settings it cannot use: bounded, refused in one line."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.agent_stub import StubAgent
from tests.test_cli_errors import assert_one_line_error


def test_an_oversized_agent_reply_is_refused_not_read_into_memory(cli):
    huge = web.json_response({"status": "ok", "filler": "x" * (3 * 1024 * 1024)})
    with StubAgent(health=huge) as agent:
        assert_one_line_error(cli("--platform", "udp", "--agent-url", agent.url), "more than 1024 KiB")


@pytest.mark.parametrize("least", ["many", -1, 10**9])
def test_an_agent_asking_for_impossible_pings_is_refused(cli, least):
    with StubAgent() as agent:
        agent.connect_body = {"room_id": "r", "udp": {"host": "127.0.0.1", "port": 9, "min_ping_bytes": least}}
        assert_one_line_error(cli("--platform", "udp", "--agent-url", agent.url), "asked for pings of")


@pytest.mark.parametrize("command", [(), ("flush-spool",)])
def test_credentials_in_the_influxdb_url_are_refused_not_ignored(cli, command):
    args = (*command, "--influxdb-url", "http://admin:hunter2@127.0.0.1:8428")
    proc = cli(*args) if command else cli("--platform", "udp", *args)
    assert_one_line_error(proc, "user:password@", "INFLUXDB_TOKEN")
    assert "hunter2" not in proc.stderr + proc.stdout
