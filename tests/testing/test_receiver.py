"""The webhook receiver: recording, scripted replies, timeouts, resets, keep-alive, threads."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from bridge.testing.receiver import Delivery, Receiver, Reply, pretty


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started receiver, stopped afterwards."""
    with Receiver() as rx:
        yield rx


def _connect(receiver: Receiver) -> http.client.HTTPConnection:
    host, port = receiver.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def test_records_headers_in_wire_order_and_the_body_exactly(receiver: Receiver) -> None:
    """Headers keep their wire order and case, the body its exact bytes, the path its query."""
    body = b'{"a": 1}\x00\xff\r\n'
    conn = _connect(receiver)
    try:
        conn.putrequest("POST", "/hook?x=1&y=2", skip_host=True, skip_accept_encoding=True)
        for name, value in [
            ("Host", "example.test"),
            ("X-Gitlab-Event", "System Hook"),
            ("x-lower-case", "b"),
            ("X-Gitlab-Token", "secret"),
            ("X-Gitlab-Event", "again"),
            ("Content-Length", str(len(body))),
        ]:
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"")
    finally:
        conn.close()
    [delivery] = receiver.deliveries()
    assert delivery.headers == (
        ("Host", "example.test"),
        ("X-Gitlab-Event", "System Hook"),
        ("x-lower-case", "b"),
        ("X-Gitlab-Token", "secret"),
        ("X-Gitlab-Event", "again"),
        ("Content-Length", str(len(body))),
    )
    assert (delivery.seq, delivery.method, delivery.path, delivery.body) == (
        1,
        "POST",
        "/hook?x=1&y=2",
        body,
    )
    assert (delivery.header("x-gitlab-event"), delivery.header("Missing")) == ("System Hook", None)
    assert delivery.reply_status == 200
    assert abs(delivery.received_at - time.time()) < 5


def test_chunked_bodies_and_other_methods_are_recorded(receiver: Receiver) -> None:
    """A chunked body is reassembled, and methods other than POST are recorded too."""
    parts = [b'{"event_name": ', b'"push"}']
    response = requests.post(receiver.url_for("/c"), data=iter(parts), timeout=5)
    assert response.status_code == 200
    assert requests.put(receiver.url_for("/c"), data=b"x", timeout=5).status_code == 200
    assert requests.get(receiver.url_for("/c"), timeout=5).status_code == 200
    chunked, put, get = receiver.deliveries("/c")
    assert chunked.header("Transfer-Encoding") == "chunked"
    assert chunked.json() == {"event_name": "push"}
    assert [(d.method, d.body) for d in (put, get)] == [("PUT", b"x"), ("GET", b"")]


def test_scripted_replies_are_consumed_in_order_then_the_default(receiver: Receiver) -> None:
    """Each request to a path takes the next scripted reply (query ignored), then the default."""
    receiver.script("/s", Reply(status=500), Reply(status=502, body=b"bad gateway"))
    receiver.fail_next("/s", 1, Reply(status=503))
    answers = [
        requests.post(receiver.url_for(f"/s?n={n}"), data=b"{}", timeout=5) for n in range(5)
    ]
    assert [r.status_code for r in answers] == [500, 502, 503, 200, 200]
    assert answers[1].content == b"bad gateway"
    assert [d.reply_status for d in receiver.deliveries("/s")] == [500, 502, 503, 200, 200]
    assert receiver.deliveries("/other") == []


def test_path_defaults_override_the_global_default(receiver: Receiver) -> None:
    """A path's default wins over the global one; other paths get the global default."""
    receiver.set_default(Reply(status=204))
    receiver.set_default(Reply(status=410, body=b"gone"), path="/gone")
    receiver.script("/gone", Reply(status=201))
    statuses = [
        requests.post(receiver.url_for(path), timeout=5).status_code
        for path in ("/gone", "/gone", "/any", "/gone?q=1")
    ]
    assert statuses == [201, 410, 204, 410]
    receiver.clear(replies=True)
    assert receiver.deliveries() == []
    assert requests.post(receiver.url_for("/gone"), timeout=5).status_code == 200
    assert receiver.deliveries()[0].seq == 1


def test_429_is_answered_with_its_retry_after_header(receiver: Receiver) -> None:
    """A scripted 429 reaches the client with its Retry-After header and body."""
    receiver.fail_next("/r", 1, Reply(status=429, headers=(("Retry-After", "2"),), body=b"slow"))
    response = requests.post(receiver.url_for("/r"), json={"a": 1}, timeout=5)
    assert (response.status_code, response.headers["Retry-After"], response.content) == (
        429,
        "2",
        b"slow",
    )


def test_redirects_are_answered_as_is(receiver: Receiver) -> None:
    """A 3xx with Location reaches a client that does not follow redirects unchanged."""
    receiver.set_default(Reply(status=308, headers=(("Location", "http://x.test/new"),)), "/old")
    response = requests.post(receiver.url_for("/old"), data=b"{}", allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers["Location"]) == (308, "http://x.test/new")
    assert response.headers["Content-Length"] == "0"


def test_a_delay_times_the_client_out_but_the_delivery_counts(receiver: Receiver) -> None:
    """A client whose timeout is shorter than the delay raises Timeout; the request is recorded."""
    receiver.fail_next("/slow", 1, Reply(delay=30))
    with pytest.raises(requests.Timeout):
        requests.post(receiver.url_for("/slow"), data=b"{}", timeout=0.2)
    [delivery] = receiver.wait_for(1, path="/slow", timeout=1)
    assert (delivery.body, delivery.reply_status) == (b"{}", 200)
    assert requests.post(receiver.url_for("/slow"), timeout=5).status_code == 200


def test_a_reset_is_a_connection_error_recorded_without_a_status(receiver: Receiver) -> None:
    """A reset reply makes requests raise ConnectionError; the delivery has reply_status None."""
    receiver.fail_next("/rst", 1, Reply(reset=True))
    with pytest.raises(requests.ConnectionError):
        requests.post(receiver.url_for("/rst"), data=b"{}", timeout=5)
    [delivery] = receiver.deliveries("/rst")
    assert (delivery.body, delivery.reply_status) == (b"{}", None)


def test_a_reset_is_a_real_rst(receiver: Receiver) -> None:
    """The client sees ECONNRESET, not an orderly close (FIN)."""
    receiver.fail_next("/rst", 1, Reply(reset=True))
    conn = _connect(receiver)
    try:
        conn.request("POST", "/rst", body=b"{}")
        with pytest.raises(ConnectionResetError):
            conn.getresponse()
    finally:
        conn.close()


def test_keep_alive_reuses_one_connection_until_a_reset(receiver: Receiver) -> None:
    """A session's requests share one connection (empty answers too); a reset closes it."""
    receiver.script("/k", Reply(), Reply(status=204), Reply(body=b"ok"), Reply(reset=True))
    with requests.Session() as session:
        for _ in range(3):
            session.post(receiver.url_for("/k"), data=b"{}", timeout=5).close()
        with pytest.raises(requests.ConnectionError):
            session.post(receiver.url_for("/k"), data=b"{}", timeout=5)
        session.post(receiver.url_for("/k"), data=b"{}", timeout=5).close()
    assert [d.connection for d in receiver.deliveries()] == [1, 1, 1, 1, 2]


def test_wait_for_says_how_many_arrived_on_timeout(receiver: Receiver) -> None:
    """wait_for raises TimeoutError naming how many of how many deliveries arrived."""
    requests.post(receiver.url_for("/w"), timeout=5).close()
    requests.post(receiver.url_for("/elsewhere"), timeout=5).close()
    assert len(receiver.wait_for(2, timeout=1)) == 2
    with pytest.raises(TimeoutError, match=r"^1 of 2 deliveries to /w arrived in 0.1 s$"):
        receiver.wait_for(2, path="/w", timeout=0.1)


def test_parallel_clients_are_all_recorded_with_unique_numbers(receiver: Receiver) -> None:
    """8 threads posting 25 times each over keep-alive sessions: 200 deliveries, seq 1..200."""
    errors: list[BaseException] = []

    def post(worker: int) -> None:
        try:
            with requests.Session() as session:
                for n in range(25):
                    url = receiver.url_for(f"/p{worker % 2}")
                    session.post(url, json={"w": worker, "n": n}, timeout=5).close()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    deliveries = receiver.wait_for(200, timeout=10)
    for thread in threads:
        thread.join()
    assert errors == []
    assert [d.seq for d in deliveries] == list(range(1, 201))
    assert len(receiver.deliveries("/p0")) == 100
    assert {(d.json()["w"], d.json()["n"]) for d in deliveries} == {
        (w, n) for w in range(8) for n in range(25)
    }


def test_stop_is_prompt_while_a_handler_sleeps() -> None:
    """stop() returns within 2 s while a handler delays 30 s; the request goes unanswered."""
    receiver = Receiver().start()
    receiver.set_default(Reply(delay=30))
    host, port = receiver.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(b"POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        receiver.wait_for(1, timeout=5)
        started = time.monotonic()
        receiver.stop()
        assert time.monotonic() - started < 2
        assert client.recv(100) == b""
    with pytest.raises(RuntimeError):
        _ = receiver.url


def test_on_delivery_is_called_for_each_request() -> None:
    """The callback gets each delivery as recorded, before the client has its answer."""
    seen: list[Delivery] = []
    with Receiver(on_delivery=seen.append) as receiver:
        receiver.fail_next("/cb", 1, Reply(status=500))
        for status in (500, 200):
            response = requests.post(receiver.url_for("/cb"), data=b"[1]", timeout=5)
            assert response.status_code == status
            assert seen[-1].reply_status == status
        assert seen == receiver.deliveries()


def test_pretty_is_one_short_line() -> None:
    """pretty() shows seq, method, path, X-Gitlab-Event, event name and a truncated summary."""
    payload = {"event_name": "user_create", "username": "ada", "bio": "x" * 300}
    delivery = Delivery(
        seq=3,
        method="POST",
        path="/sys",
        headers=(("X-Gitlab-Event", "System Hook"),),
        body=json.dumps(payload).encode(),
        received_at=0.0,
        reply_status=200,
    )
    line = pretty(delivery)
    assert line.startswith('#3 POST /sys  System Hook  user_create  {"event_name": "user_create", ')
    assert line.endswith("...")
    assert len(line) == len("#3 POST /sys  System Hook  user_create  ") + 120
    group = Delivery(
        seq=1,
        method="POST",
        path="/g",
        headers=(),
        body=b'{"object_kind": "push"}',
        received_at=0.0,
        reply_status=None,
    )
    assert pretty(group) == '#1 POST /g  -  push  {"object_kind": "push"}'
    empty = Delivery(
        seq=2, method="GET", path="/", headers=(), body=b"", received_at=0.0, reply_status=200
    )
    assert pretty(empty) == "#2 GET /  -  -"


def test_a_body_cut_short_is_no_delivery(receiver: Receiver) -> None:
    """A client killed mid-request (kill -9) leaves a body shorter than its Content-Length:
    nothing arrived, so nothing is recorded or answered."""
    host, port = receiver.url.split("//", 1)[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"ev')
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""
    assert receiver.deliveries() == []
