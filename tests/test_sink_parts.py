"""Sink parts on their own: line protocol, spool replay, the memory budget (real files, real HTTP)."""

from __future__ import annotations

import pytest

from engine.parent.sinks import SeriesInfo, SinkConfig, lineproto, spool
from ipc.frames import Hello, Samples

INFO = SeriesInfo("udp", "us west,2=a", "r1", warmup=5, estimate_offset=False)
HELLO = Hello("udp", 1, anchor_wall_ns=1_700_000_000_000_000_000, anchor_perf_ns=1_000, anchor_uncertainty_ns=10)


def frame(seqs: list[int], legacy: bool = False) -> Samples:
    n = len(seqs)
    t1 = [10_000 + 1_000_000 * i for i in range(n)]
    t4 = [t + 250_000 for t in t1]
    wall = [t - 1_000 + 1_700_000_000_000_000_000 for t in t1]
    t2 = [0] * n if legacy else [w + 100_000 for w in wall]
    t3 = [0] * n if legacy else [w + 150_000 for w in wall]
    return Samples(seqs, t1, t1, t4, t2, t3, [50_000] * n)


def test_sample_lines_escape_tags_and_carry_the_receive_instant():
    (line,) = lineproto.sample_lines(INFO, HELLO, frame([6]), None)
    assert line == (
        rb"latency_measurements,platform=udp,location_id=us\ west\,2\=a,run_id=r1 "
        rb"round_trip_time=0.25,client_to_server=0.1,server_to_client=0.1,message_number=1i "
        + str(1_700_000_000_000_000_000 + 9_000 + 250_000).encode()
    )


def test_legacy_samples_have_no_one_way_fields():
    (line,) = lineproto.sample_lines(INFO, HELLO, frame([6], legacy=True), None)
    assert b"client_to_server" not in line and b"round_trip_time=0.25,message_number=1i " in line


def test_summary_line_types():
    line = lineproto.summary_line(INFO, {"total_messages": 3, "mean_rtt": 0.5, "p99_9_rtt": None, "x": True}, 7)
    assert line.endswith(b" total_messages=3i,mean_rtt=0.5 7")


def test_replay_keeps_only_what_was_not_accepted(tmp_path):
    path = tmp_path / "run.lp"
    writer = spool.Spool(tmp_path, "run")
    writer.append([b"m v=%di 1" % i for i in range(5)])
    writer.close()
    sent: list[bytes] = []

    def refuse_second(body: bytes) -> None:
        if len(sent) == 1:
            raise ConnectionError("refused")
        sent.append(body)

    with pytest.raises(ConnectionError):
        spool.replay(path, refuse_second, chunk_lines=2)
    assert path.read_bytes() == b"m v=2i 1\nm v=3i 1\nm v=4i 1\n"  # the accepted chunk is gone: no duplicate later
    assert spool.replay(path, sent.append, chunk_lines=2) == 3 and not path.exists()
    assert b"\n".join(sent).split(b"\n") == [b"m v=%di 1" % i for i in range(5)]


def test_a_spool_being_written_is_left_alone(tmp_path):
    writer = spool.Spool(tmp_path, "busy")
    writer.append([b"m v=1i 1"])
    with pytest.raises(spool.SpoolBusy):
        spool.replay(writer.path, lambda body: None, 10)
    writer.close()
    assert writer.path.exists()


def test_over_budget_points_go_to_the_spool_without_waiting(tmp_path):
    """A server that never answers in time: the budget caps what waits in memory, the rest is spooled at once."""
    from engine.parent.sinks.writer import InfluxSink

    config = SinkConfig(
        url="http://127.0.0.1:9", database="d", spool_dir=tmp_path, max_pending=50, max_retries=0, timeout_ms=200
    )
    sink = InfluxSink(config, "budget", {"udp": INFO})
    for start in range(6, 1006, 100):
        sink.offer("udp", HELLO, frame(list(range(start, start + 100))))
    # Every frame of 100 is over the budget of 50: spooled on the spot, nothing queued.
    assert sink.spool.points == 1000
    report = sink.close({"udp": {"total_messages": 1000}}, 1.0)
    assert report["spooled"] == 1001 and report["written"] == 0 and report["unaccounted"] == 0
    assert len(sink.spool.path.read_bytes().splitlines()) == 1001


def test_public_url_drops_credentials_written_into_the_url():
    assert SinkConfig(url="https://user:s3cret@db.example:8181/x", database="d").public_url == "https://db.example:8181/x"
    assert SinkConfig(url="http://127.0.0.1:8428", database="d").public_url == "http://127.0.0.1:8428"


def test_redact_blanks_the_token_and_a_url_password():
    config = SinkConfig(url="https://user:s3cret@db.example/x", database="d", token="tok-123")
    assert config.redact("auth tok-123 for https://user:s3cret@db.example") == "auth *** for https://user:***@db.example"


def test_summary_line_quotes_and_escapes_string_fields():
    line = lineproto.summary_line(INFO, {"total_messages": 3, "hdr_rtt": 'HIST"a\\b'}, 7)
    assert line.endswith(b' total_messages=3i,hdr_rtt="HIST\\"a\\\\b" 7')
