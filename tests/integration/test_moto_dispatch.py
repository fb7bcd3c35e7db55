"""moto's server as the local stack runs it (riskradar.local.moto_server): the backend for a host is
looked up once, not on every request, requests still reach the right service, and connections are
kept alive."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3.connection
from botocore.config import Config
from moto import backends

from riskradar.local.moto_server import MotoServer, fake_session


def test_each_host_is_resolved_once_and_each_service_still_answers(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = 0
    list_modules = backends.list_of_moto_modules

    def counting_list() -> Iterable[str]:
        nonlocal listed
        listed += 1
        return list_modules()

    # The moto server answers in this process: its lookups are counted here.
    monkeypatch.setattr(backends, "list_of_moto_modules", counting_list)
    session = fake_session("eu-west-3")  # a region no other test in this process has used
    sqs = session.client("sqs", endpoint_url=moto_server.endpoint_url)
    s3 = session.client("s3", endpoint_url=moto_server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="dispatch")["QueueUrl"]
    s3.create_bucket(Bucket="dispatch", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    for n in range(20):
        sqs.send_message(QueueUrl=queue_url, MessageBody=str(n))
        s3.put_object(Bucket="dispatch", Key=f"k{n}", Body=b"x")

    assert (
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "20"
    )
    assert s3.list_objects_v2(Bucket="dispatch")["KeyCount"] == 20
    # 44 requests to two hosts (unpatched moto lists its modules on every request).
    assert listed <= 2


def test_connections_are_kept_alive_and_a_stopped_server_lets_go_of_its_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # werkzeug's development server (moto's own) closed every connection after one response, and
    # each call paid for a new connection and a new server thread.
    opened = 0
    connect = urllib3.connection.HTTPConnection.connect

    def counting_connect(self: urllib3.connection.HTTPConnection) -> None:
        nonlocal opened
        opened += 1
        connect(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", counting_connect)
    server = MotoServer()
    sqs = fake_session("us-east-1").client("sqs", endpoint_url=server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="kept-alive")["QueueUrl"]
    for n in range(30):
        sqs.send_message(QueueUrl=queue_url, MessageBody=str(n))
    assert opened == 1

    server.stop()

    assert not server._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(server.endpoint_url.rsplit(":", 1)[1])), timeout=2)


def test_stopping_while_the_loop_is_already_waking_up_neither_raises_nor_leaks_threads() -> None:
    # A worker finishing a response pulls the server's wake-up trigger too. When the loop wakes for
    # that pull, it runs stop()'s thunk, queued just before stop() writes its own byte to the pipe:
    # a thunk that closes the pipe made that write fail (EBADF, about 1 stop in 250 here), stop()
    # raised, and the workers were never shut down. Forced here: stop()'s byte comes after the loop
    # has run its thunk.
    server = MotoServer()
    fake_session("us-east-1").client("sqs", endpoint_url=server.endpoint_url).list_queues()
    trigger: Any = server._server.trigger  # typed an int by waitress's stubs
    pull = trigger._physical_pull

    def earlier_wake_up_then_stops_own() -> None:
        pull()  # the worker's wake-up: the loop runs the queued thunk
        server._thread.join(timeout=5)
        pull()  # stop()'s own

    trigger._physical_pull = earlier_wake_up_then_stops_own

    server.stop()

    assert not server._thread.is_alive()
    assert not [thread for thread in server._server.task_dispatcher.threads]
    with pytest.raises(OSError, match="Bad file descriptor"):  # the pipe is closed once stopped
        pull()


def test_a_call_is_answered_while_queues_are_long_polled(moto_server: MotoServer) -> None:
    # A long poll holds a server thread for its whole wait: 20 of them must not stall other calls.
    session = fake_session("us-east-1")
    sqs = session.client("sqs", endpoint_url=moto_server.endpoint_url, config=Config(max_pool_connections=30))
    queue_url = sqs.create_queue(QueueName="long-polled")["QueueUrl"]
    finished: dict[str, float] = {}

    def long_poll(n: int) -> None:
        sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=3)
        finished[f"poll-{n}"] = time.monotonic()

    with ThreadPoolExecutor(max_workers=20) as pool:
        polls = [pool.submit(long_poll, n) for n in range(20)]
        time.sleep(0.5)  # every poll is waiting on the server now
        sqs.list_queues()
        finished["list"] = time.monotonic()
        for poll in polls:
            poll.result()

    assert finished["list"] < min(at for name, at in finished.items() if name.startswith("poll-"))
