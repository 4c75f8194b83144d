"""The impairment proxy itself: its spec, its seeded schedule, the relay over real sockets, its command line."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from collections import Counter

import pytest

from engine.impair.process import READY_PREFIX, ProxyConfig, ProxyProcess
from engine.impair.schedule import SWAP_GAP_NS, DirectionSchedule
from engine.impair.spec import Delay, SpecError, parse_spec
from engine.impair.truth import read_truth
from ipc.children import readline_within
from tests.conftest import CLI, cli_env
from transports.sdp import candidate_addresses, rewrite_candidates

MS = 1_000_000


def test_spec_applies_items_to_both_directions_or_one():
    spec = parse_spec("delay=uniform:2:8,down.loss=2%,up.dup=0.01,reorder=5%,seed=9")
    assert spec.seed == 9
    assert spec.up.delay == spec.down.delay == Delay("uniform", 2.0, 8.0)
    assert (spec.up.loss, spec.down.loss, spec.up.dup, spec.down.dup) == (0.0, 0.02, 0.01, 0.0)
    assert spec.up.reorder == spec.down.reorder == 0.05
    assert parse_spec("up.delay=normal:30:10").up.delay == Delay("normal", 30.0, 10.0)
    assert parse_spec("delay=5ms").down.delay == Delay("constant", 5.0)


def test_spec_replays_a_trace_file(tmp_path):
    trace = tmp_path / "t.txt"
    trace.write_text("# ms\n1.5\n\n20  # a spike\n")
    spec = parse_spec(f"down.delay=trace:{trace}")
    assert spec.down.delay.trace_ms == (1.5, 20.0)
    assert spec.describe()["down"]["delay"] == {"kind": "trace", "a": 0.0, "b": 0.0, "trace_path": str(trace)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("delay", "'delay' is not KEY=VALUE"),
        ("left.delay=1", "direction must be up or down"),
        ("jitter=3", "unknown key 'jitter'"),
        ("delay=-1", "'-1' is negative"),
        ("delay=uniform:8:2", "HIGH is below LOW"),
        ("delay=gamma:1:2", "expected MS, uniform:LOW:HIGH, normal:MEAN:SD or trace:FILE"),
        ("loss=120%", "a probability is between 0 and 1"),
        ("seed=x", "seed=x: not an integer"),
        ("delay=trace:/nonexistent/t.txt", "cannot read trace file /nonexistent/t.txt"),
    ],
)
def test_spec_errors_name_the_item(text, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(text)


def fates(schedule: DirectionSchedule, n: int) -> list[tuple[int, int, bool]]:
    """(index, copies, held) of every planned datagram, arrivals 1 ms apart."""
    return [(p.index, p.copies, p.held) for k in range(n) for p in schedule.admit(k * MS)]


def test_schedule_is_the_same_for_the_same_seed_and_direction():
    spec = parse_spec("delay=uniform:1:9,loss=10%,dup=10%,reorder=10%,seed=4")
    first = fates(DirectionSchedule(spec.up, 4, "up"), 2000)
    assert first == fates(DirectionSchedule(spec.up, 4, "up"), 2000)
    assert first != fates(DirectionSchedule(spec.down, 4, "down"), 2000)  # directions draw independent streams
    planned = Counter(copies for _, copies, _ in first)
    assert 150 < planned[0] < 250 and 150 < planned[2] < 250  # 10 % of 2,000 each, drawn


def test_schedule_swaps_a_reordered_datagram_with_its_successor():
    held_always = DirectionSchedule(parse_spec("delay=5,reorder=100%").up, 1, "up")
    (first,) = held_always.admit(0)
    assert first.held and held_always.hold_deadline(first) > first.release_ns
    second, released = held_always.admit(2 * MS)  # the successor frees it; it leaves just after
    assert released is first and not first.held
    assert first.release_ns == second.release_ns + SWAP_GAP_NS
    assert not second.held  # one held at a time: the datagram that frees it is not held itself
    (third,) = held_always.admit(4 * MS)
    assert third.held


def test_trace_delays_are_replayed_in_order_and_again(tmp_path):
    trace = tmp_path / "t.txt"
    trace.write_text("1\n2\n3\n")
    schedule = DirectionSchedule(parse_spec(f"delay=trace:{trace}").up, 0, "up")
    assert [p.delay_ns for k in range(7) for p in schedule.admit(k)] == [MS, 2 * MS, 3 * MS, MS, 2 * MS, 3 * MS, MS]


class Echo:
    """A UDP echo on 127.0.0.1 in a thread; it stops when its socket closes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
                self.sock.sendto(data, addr)
            except OSError:
                return


def ping(seq: int) -> bytes:
    return b'{"type":"ping","seq":%d,"timestamp":1.0}' % seq


def test_relay_logs_every_datagrams_fate_as_its_schedule_drew_it(tmp_path):
    echo = Echo()
    spec_text = "up.delay=2,down.delay=uniform:0:3,loss=10%,dup=10%,seed=3"
    log = tmp_path / "truth.jsonl"
    with ProxyProcess(ProxyConfig(spec_text, "127.0.0.1", echo.port, truth_log=str(log))) as addresses:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.connect(addresses.front)
        client.settimeout(0.5)
        for seq in range(1, 201):
            client.send(ping(seq))
        answers = []
        try:
            while True:
                answers.append(client.recv(65536))
        except TimeoutError:
            pass
    echo.sock.close()
    header, packets = read_truth(log)
    assert header.impair["text"] == spec_text and header.upstream == f"127.0.0.1:{echo.port}"
    up = [p for p in packets if p.dir == "up"]
    assert sorted({p.index for p in up}) == list(range(200)) and {p.seq for p in up} == set(range(1, 201))
    # The log is what the seeded schedule drew, datagram by datagram.
    spec = parse_spec(spec_text)
    schedule = DirectionSchedule(spec.up, spec.seed, "up")
    drawn = [plan.copies for k in range(200) for plan in schedule.admit(k)]
    logged = Counter(p.index for p in up if p.fate != "dropped")
    assert [logged.get(i, 0) for i in range(200)] == drawn
    for p in packets:
        if p.departure_ns is not None:
            assert p.departure_ns >= p.release_ns == p.arrival_ns + p.delay_ns  # never early
    up_delivered = sum(p.departure_ns is not None for p in up)
    down = [p for p in packets if p.dir == "down"]
    assert len({p.index for p in down}) == up_delivered  # the echo answered every copy that reached it
    assert len(answers) == sum(p.departure_ns is not None for p in down)  # and the client got every pong sent
    assert Counter(p.fate for p in packets)["duplicated"] > 0


def test_the_upstream_sees_the_first_client_from_the_announced_address_and_early_answers_are_logged(tmp_path):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.settimeout(5)
    log = tmp_path / "truth.jsonl"
    with ProxyProcess(ProxyConfig("delay=0", *echo.getsockname(), truth_log=str(log))) as addresses:
        echo.sendto(b"too early", addresses.back)  # no client yet: nowhere to send it
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(5)
        client.sendto(ping(1), addresses.front)
        data, sender = echo.recvfrom(65536)
        assert (data, sender) == (ping(1), addresses.back)  # announced before the client ever sent
        echo.sendto(b"pong", sender)
        assert client.recvfrom(65536) == (b"pong", addresses.front)
    echo.close()
    header, packets = read_truth(log)
    assert header.listen == "{}:{}".format(*addresses.front)  # the address bound, not the port 0 asked for
    assert [(p.dir, p.fate) for p in packets] == [("down", "unrouted"), ("up", "delivered"), ("down", "delivered")]


OFFER = "\r\n".join(
    [
        "v=0",
        "m=application 50123 DTLS/SCTP 5000",
        "c=IN IP4 127.0.0.1",
        "a=candidate:1 1 UDP 2130706431 127.0.0.1 50123 typ host",
        "a=candidate:2 1 TCP 2105524479 127.0.0.1 9 typ host tcptype active",
        "a=end-of-candidates",
        "",
    ]
)


def test_sdp_candidates_are_read_and_pointed_at_the_proxy():
    assert candidate_addresses(OFFER) == [("127.0.0.1", 50123)]
    rewritten = rewrite_candidates(OFFER, "127.0.0.2", 40000)
    assert candidate_addresses(rewritten) == [("127.0.0.2", 40000)]
    assert "m=application 40000 DTLS/SCTP 5000\r\nc=IN IP4 127.0.0.2\r\n" in rewritten
    assert "127.0.0.1 9 typ host tcptype active" in rewritten  # only UDP candidates carry the datagrams
    assert rewritten.endswith("a=end-of-candidates\r\n")


def test_impair_command_relays_until_sigterm_and_writes_its_log(tmp_path):
    echo = Echo()
    log = tmp_path / "truth.jsonl"
    proc = subprocess.Popen(
        [*CLI, "impair", "--to", f"127.0.0.1:{echo.port}", "--impair", "delay=1", "--truth-log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path,
    )  # fmt: skip
    line = readline_within(proc, 30)
    assert line.startswith(READY_PREFIX), proc.stderr.read() if proc.poll() is not None else line
    host, _, port = line[len(READY_PREFIX) :].split()[0].rpartition(":")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    client.sendto(ping(1), (host, int(port)))
    assert client.recv(65536) == ping(1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    echo.sock.close()
    _, packets = read_truth(log)
    assert [(p.dir, p.seq, p.fate) for p in packets] == [("up", 1, "delivered"), ("down", 1, "delivered")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["impair", "--to", "127.0.0.1:9", "--impair", "loss=2"], "--impair: loss=2: a probability is between 0 and 1"),
        (["impair", "--to", "nowhere", "--impair", "delay=1"], "--to 'nowhere': expected HOST:PORT"),
        (["--platform", "udp,webrtc", "--impair", "delay=1"], "--impair: the proxy routes udp or webrtc, one platform"),
        (["--platform", "udp", "--impair-log", "x.jsonl"], "--impair-log needs --impair"),
        (["--platform", "udp", "--impair", "delay=fast"], "--impair: delay: 'fast' is not a number"),
    ],
)
def test_bad_impair_input_is_one_line_and_exit_2(cli, args, message):
    proc = cli(*args)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"benchmark-runner: error: {message}")
