"""The moto server the local stack talks to, and the process environment it needs."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer, create_server

from riskradar.observability import keep_sdk_wire_logs_quiet

#: Fake credentials: moto accepts anything, and fixed values make sure nothing real is sent.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
DEFAULT_REGION = "us-east-1"


_sqs_send = threading.local()


def make_moto_sqs_linear() -> None:
    """Make moto 5.2's SendMessage and ReceiveMessage O(1) per message instead of O(queue depth).

    For every message it hands out, ReceiveMessage computes *all* the queue's attributes (the
    approximate counts walk every message, several times) just to read MessageRetentionPeriod; and
    SendMessage(Batch) does the same to read ContentBasedDeduplication. A backlog of n messages then
    costs O(n) per message, and a 10,000-report replay spent most of its time there. Both checks get
    the one attribute they need instead; everything else is moto's own code.

    Consuming was O(queue depth) per message too: DeleteMessageBatch walked the whole queue twice
    per entry, and ReceiveMessage read moto's clock (which builds datetimes) twice per message in
    the queue to find the visible ones. Receiving and deleting 100 messages, 10 at a time, took
    0.29 s of the process's CPU from a backlog of 1,000 and 0.79 s from 3,000; now 0.13 s and
    0.18 s. A batch delete walks the queue once, with moto's own answers (a handle deleted before
    succeeds again, one no message ever had fails with ReceiptHandleIsInvalid); the clock is read
    once per ReceiveMessage. Idempotent. The moto server answers requests on many threads: the batch
    delete rewrites the queue under the queue's own lock, so a concurrent send is kept; moto's other
    writers of the list (a single DeleteMessage, PurgeQueue, ReceiveMessage moving a message to the
    dead-letter queue) do not take that lock, in moto itself as before.
    """
    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs.models import Message, Queue, SQSBackend

    if getattr(SQSBackend, "_riskradar_linear", False):
        return
    all_attributes = Queue.attributes
    send_message = SQSBackend.send_message
    send_message_batch = SQSBackend.send_message_batch

    def is_message_valid_based_on_retention_period(
        self: SQSBackend, queue_name: str, message: Message
    ) -> bool:
        # Set from the MessageRetentionPeriod attribute by moto's Queue._set_attributes.
        retention_s = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009
        return bool(retention_s + (message.sent_timestamp or 0) / 1000 > unix_time())

    def attributes(self: Queue) -> dict[str, Any]:
        if getattr(_sqs_send, "active", False):
            # The only attribute sending reads (set as a bool by moto's Queue._set_attributes).
            content_based = bool(getattr(self, "content_based_deduplication", False))
            return {"ContentBasedDeduplication": "true" if content_based else "false"}
        return all_attributes.fget(self)  # type: ignore[attr-defined,no-any-return]

    def linear_send_message(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Message:
        with _sending():
            return send_message(self, queue_name, *args, **kwargs)

    def linear_send_message_batch(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with _sending():
            return send_message_batch(self, queue_name, *args, **kwargs)

    def linear_delete_message_batch(
        self: SQSBackend, queue_name: str, receipts: list[dict[str, Any]]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        queue = self.get_queue(queue_name)
        with queue._messages_lock:
            wanted = {entry["ReceiptHandle"] for entry in receipts} - queue.deleted_messages
            kept: list[Message] = []
            for message in queue._messages:
                handles = message.all_receipt_handles
                if wanted.isdisjoint(handles):
                    kept.append(message)
                    continue
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(handle for handle in handles if handle is not None)
            queue._messages = kept
        succeeded: list[str] = []
        failed: list[dict[str, Any]] = []
        for entry in receipts:
            if entry["ReceiptHandle"] in queue.deleted_messages:
                succeeded.append(entry["Id"])
                continue
            failed.append(
                {
                    "Id": entry["Id"],
                    "SenderFault": True,
                    "Code": "ReceiptHandleIsInvalid",
                    "Message": (
                        f'The input receipt handle "{entry["ReceiptHandle"]}" is not a valid receipt handle.'
                    ),
                }
            )
        return succeeded, failed

    def visible_messages(self: Queue) -> list[Message]:
        now = unix_time_millis()  # Message.visible and .delayed, with one reading of the clock
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    # Monkeypatching moto is the point here; mypy rightly flags assigning to methods.
    Queue.messages = property(visible_messages)  # type: ignore[assignment,method-assign]
    SQSBackend.delete_message_batch = linear_delete_message_batch  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    SQSBackend.send_message = linear_send_message  # type: ignore[method-assign]
    SQSBackend.send_message_batch = linear_send_message_batch  # type: ignore[method-assign]
    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    SQSBackend._riskradar_linear = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def _sending() -> Iterator[None]:
    """Marks the thread as inside SendMessage(Batch) (re-entrant: the batch calls SendMessage)."""
    previous = getattr(_sqs_send, "active", False)
    _sqs_send.active = True
    try:
        yield
    finally:
        _sqs_send.active = previous


#: SQS drops a FIFO message whose deduplication id it accepted in the last 5 minutes.
FIFO_DEDUPLICATION_INTERVAL_MS = 300_000


def make_moto_fifo_deduplication_like_aws() -> None:
    """Deduplicate FIFO sends as SQS does: against every deduplication id *accepted* in the last
    5 minutes, whether or not its message is still in the queue.

    moto 5.2 only compares a new message with the messages still in the queue (and walks all of
    them, O(n) per send): once a consumer has deleted a signal, a resend with the same id would be
    delivered again locally, while SQS drops it. Here each FIFO queue remembers the ids it accepted
    (per message group when its DeduplicationScope is messageGroup) with their send times, in a
    dict: O(1) per send. Only client sends are deduplicated; moto moving a message to a
    dead-letter queue is not a send and is never dropped. Idempotent and thread-safe.
    """
    from moto.sqs.models import Message, Queue

    if getattr(Queue, "_riskradar_fifo_dedup", False):
        return
    add_message = Queue.add_message

    def deduplicating_add_message(self: Queue, message: Message) -> None:
        dedup_id = message.deduplication_id
        if not self.fifo_queue or dedup_id is None:
            add_message(self, message)
            return
        if getattr(_sqs_send, "active", False):
            scope = getattr(self, "deduplication_scope", "queue")
            key = (message.group_id if scope == "messageGroup" else None, dedup_id)
            sent_ms = int(message.sent_timestamp or 0)
            with self._messages_lock:
                accepted: dict[tuple[str | None, str], int] = self.__dict__.setdefault(
                    "_riskradar_accepted_dedup_ids", {}
                )
                # Oldest first (insertion order): forget what left the interval.
                for old_key, old_ms in list(accepted.items()):
                    if sent_ms - old_ms < FIFO_DEDUPLICATION_INTERVAL_MS:
                        break
                    del accepted[old_key]
                if key in accepted:
                    return
                accepted[key] = sent_ms
        # moto's own check would compare against the queue's messages: hide the id from it.
        message.deduplication_id = None
        try:
            add_message(self, message)
        finally:
            message.deduplication_id = dedup_id

    Queue.add_message = deduplicating_add_message  # type: ignore[method-assign]
    Queue._riskradar_fifo_dedup = True  # type: ignore[attr-defined]


#: DynamoDB's item size limit as moto enforces it (AWS: 400 KB; moto measured 409-410 KB).
_MOTO_ITEM_SIZE_LIMIT = 405_000


def make_moto_dynamodb_items_linear() -> None:
    """Make moto 5.2 build a DynamoDB item in O(its size) instead of O(attributes²).

    moto checks the 400 KB item limit in its attribute dict's `__setitem__`, re-measuring every
    attribute already set (nested maps and lists included) each time one more is added. A triage
    record of ~20 attributes, some nested, then cost moto ~1 ms of the process's CPU to store, and
    the local stack runs moto in the same process as the handler it measures. Here an item is
    measured once, when it is built from a request (PutItem, BatchWriteItem), and refused exactly
    as moto refuses it; updates to a stored item keep moto's own check. Idempotent.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    if getattr(Item, "_riskradar_linear", False):
        return

    def build_item(
        self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]
    ) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > _MOTO_ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        # Measured once above: LimitedSizeDict's constructor fills it with dict.update, which does
        # not go through its measuring __setitem__.
        self.attrs = LimitedSizeDict(values)

    Item.__init__ = build_item  # type: ignore[method-assign]
    Item._riskradar_linear = True  # type: ignore[attr-defined]


def make_moto_dispatch_remember_backends() -> None:
    """Make moto's server find the backend for a request's host once per host, not per request.

    moto 5.2's `DomainDispatcherApplication.get_backend_for_host` lists moto's package folder (about
    200 `isdir` calls) and then tries every service's URL patterns, for every request. That was a
    tenth of the server's CPU per DynamoDB PutItem, in the process whose handler the local stack
    measures. The answer depends on the host alone, and a server meets a handful of hosts.
    Idempotent.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication, "_riskradar_remembers_backends", False):
        return
    find_backend = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in found:
            found[host] = find_backend(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = remembered_backend_for_host  # type: ignore[method-assign]
    DomainDispatcherApplication._riskradar_remembers_backends = True  # type: ignore[attr-defined]


#: DynamoDB's limit on the actions of one TransactWriteItems request.
_TRANSACTION_ACTIONS_LIMIT = 100
#: What undoing an action of a moto transaction needs: (moto Table, hash key, range key or None,
#: moto Item before the action or None).
_SavedItem = tuple[Any, Any, Any, Any]
#: moto's cancellation reason of an action: (code, message, item) or (None, None, None).
_CancellationReason = tuple[str | None, str | None, dict[str, Any] | None]


def make_moto_transactions_undo_by_item() -> None:
    """Make moto 5.2's TransactWriteItems undo a cancelled transaction item by item, instead of
    deep-copying every table it touches before each of its actions.

    With those copies a transaction of n actions on a table of N items cost O(n·N): triage claims a
    batch's pending records in one transaction of up to 100 conditional puts into ReportsTable
    (riskradar.adapters.dynamodb.ReportStore.claim_pending), and batches slowed from 0.5 to 6 s as
    the table grew. Here each action saves a copy of the one item it is about to change, and a
    cancelled transaction puts those back, last first. moto's answers are kept: at most 100 actions,
    one action per entry and per item, each condition read against the item as the transaction found
    it, a validation error raised as it is, every other failure a cancellation reason in the
    action's place. Differences: an entry with two actions now undoes the actions before it (moto
    kept them), and the stream of a table that has one keeps the records of undone actions (no table
    in template.yaml has a stream). Idempotent.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_riskradar_undo_by_item", False):
        return

    def act(
        self: DynamoDBBackend, entry: dict[str, Any], targets: set[str], saved: list[_SavedItem]
    ) -> _CancellationReason:
        """Run one entry's action; its cancellation reason, or (None, None, None) if it succeeded."""
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        action, request = next(iter(entry.items()))
        item_before: dict[str, Any] | None = None
        try:
            if action not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = request["TableName"]
            table = self.get_table(table_name)
            if action == "Put":
                attributes = request["Item"]
                key = {name: attributes[name] for name in (table.hash_key_attr, table.range_key_attr) if name}
            else:
                key = request["Key"]
            target = f"{table_name}|{sorted(key.items())}"
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            current = self.get_item(table_name, key)
            names, values = request.get("ExpressionAttributeNames"), request.get("ExpressionAttributeValues")
            condition = request.get("ConditionExpression")
            if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    item_before = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=item_before)
            if action == "ConditionCheck":
                return (None, None, None)
            hash_key, range_key = self.get_keys_value(table, key)
            # Update changes the stored item in place: the copy is what undoing puts back.
            saved.append((table, hash_key, range_key, copy.deepcopy(current)))
            if action == "Put":
                self.put_item(table_name, attributes, overwrite=True)
            elif action == "Delete":
                self.delete_item(table_name, key)
            else:
                self.update_item(
                    table_name,
                    key,
                    update_expression=request["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as refused:
            return ("ConditionalCheckFailed", str(refused.message), item_before)
        except Exception as error:  # moto's answer: any other failure cancels, under its name
            return (type(error).__name__, str(error), item_before)
        return (None, None, None)

    def undo(saved: list[_SavedItem]) -> None:
        for table, hash_key, range_key, item in reversed(saved):
            if item is None:
                table.delete_item(hash_key, range_key)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > _TRANSACTION_ACTIONS_LIMIT:
            raise TooManyTransactionsException()
        targets: set[str] = set()
        saved: list[_SavedItem] = []
        try:
            reasons = [act(self, entry, targets, saved) for entry in transact_items]
        except Exception:
            undo(saved)
            raise
        if any(code is not None for code, _, _ in reasons):
            undo(saved)
            raise TransactionCanceledException(reasons)

    # Kept, so that tests can compare the two on the same requests.
    DynamoDBBackend.moto_transact_write_items = DynamoDBBackend.transact_write_items  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoDBBackend._riskradar_undo_by_item = True  # type: ignore[attr-defined]


def patch_moto() -> None:
    """Every fix the local stack makes to moto (each idempotent): what a moto server here, or a
    test mocking AWS in-process, must run with to behave as the local stack does."""
    make_moto_sqs_linear()
    make_moto_fifo_deduplication_like_aws()
    make_moto_dynamodb_items_linear()
    make_moto_dispatch_remember_backends()
    make_moto_transactions_undo_by_item()


class MotoServer:
    """moto's server application on 127.0.0.1 and a free port, served by waitress.

    moto's own ThreadedMotoServer runs werkzeug's development server, which closes the connection
    after every response: each AWS call opened a TCP connection and the server started a thread to
    answer it. That was 1.4 of the 3.7 ms of the process's CPU a DynamoDB PutItem cost here, and
    triage makes ~100 calls a batch. waitress keeps connections alive and answers from a pool of
    threads; the application is moto's (`moto server` serves the same one). What differs (found by
    a review): waitress drops request headers whose names hold an underscore (moto's server kept
    them, for S3 metadata keys; nothing here sends one) and capitalises response header names
    (botocore reads them case-insensitively); and its _SERVER_THREADS threads are all taken by as
    many long polls (ReceiveMessage with WaitTimeSeconds; the local stack's pollers never wait).

    moto's backends are process-global: every moto server in a process serves the same state.
    """

    def __init__(self) -> None:
        patch_moto()
        #: Every socket the server's loop watches (waitress's socket map: the listener, each connection).
        self._sockets: dict[int, Any] = {}
        server = create_server(
            DomainDispatcherApplication(create_backend_app),
            map=self._sockets,
            host="127.0.0.1",  # always loopback
            port=0,
            threads=_SERVER_THREADS,
            connection_limit=_SERVER_CONNECTIONS,
            # A client keeps its idle connections open; closed after this long, they cost nothing.
            channel_timeout=_IDLE_CONNECTION_S,
            # moto answers a malformed request itself; waitress need not log it a second time.
            expose_tracebacks=False,
        )
        if not isinstance(server, TcpWSGIServer):  # one address: one TCP server
            raise TypeError(f"waitress built a {type(server).__name__}")
        self._server = server
        host, port = server.getsockname()
        self.endpoint_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.run, name="moto-server", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        """Wipe every moto backend (all stacks, queues, tables ... in this process)."""
        # Our own loopback server, on a URL this class built: not an arbitrary scheme.
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        """Close the listening socket and every open connection, then let the serving thread end."""
        # waitress has no stop: its loop runs while it has sockets to watch. They are closed on the
        # loop's own thread (a socket closed under its select() would fail the loop).
        wake_up: Any = self._server.trigger  # typed an int by waitress's stubs: it is its wake-up pipe
        wake_up.pull_trigger(self._close_every_socket)
        self._thread.join(timeout=10)
        self._server.task_dispatcher.shutdown()
        # The wake-up pipe is closed last, once no thread writes to it: the loop may run the thunk
        # above on another thread's wake-up, before pull_trigger writes its own byte, and workers
        # finishing a response pull it too. Closed earlier, those writes failed (EBADF, and stop()
        # raised with the workers still running) or went to whatever reused the descriptor.
        wake_up.close()

    def _close_every_socket(self) -> None:
        trigger: Any = self._server.trigger  # typed an int by waitress's stubs
        for dispatcher in list(self._sockets.values()):
            if dispatcher is trigger:
                dispatcher.del_channel()  # no longer watched, so the loop ends; closed by stop()
            elif isinstance(dispatcher, HTTPChannel):
                # Also wakes a worker waiting for the connection's output to drain (close() would not).
                dispatcher.handle_close()
            else:  # the listening socket; waitress's own close() would close the trigger too
                wasyncore.dispatcher.close(dispatcher)


#: Requests answered at once. moto's backends take few locks, as under its own server, which
#: answered every connection on a thread of its own. Above what the local stack needs (its pollers
#: never wait on a queue), so that a client of `make serve` long-polling a few queues (ReceiveMessage
#: with WaitTimeSeconds holds a thread for its wait) does not stall every other call; an idle
#: thread costs nothing.
_SERVER_THREADS = 64
#: Open connections: every SDK client keeps up to 10, and a test run builds many clients.
_SERVER_CONNECTIONS = 2000
_IDLE_CONNECTION_S = 60


def quiet_library_logs() -> None:
    """waitress logs every queue of requests waiting for a thread (werkzeug, moto's own server, logged
    every request), moto warns about every resource it cannot create and samtranslator about metrics
    it never publishes offline."""
    for name in ("werkzeug", "waitress", "moto", "samtranslator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # moto's CloudFormation warns about every resource it skipped each time it reads the stack
    # (`riskradar dlq` lists the stack's queues); the deploy logs them once, by name.
    warnings.filterwarnings("ignore", message=r"Tried to parse .* not supported by moto")
    # The SDK's DEBUG logs hold request bodies: the local stack creates the HMAC key with one.
    keep_sdk_wire_logs_quiet()


def ensure_fake_aws_environment() -> list[str]:
    """Give boto3 clients built by the caller's own code credentials and a region, keeping any
    value the caller set explicitly. Returns the variables added, so they can be removed again."""
    wanted = {"AWS_DEFAULT_REGION": DEFAULT_REGION}
    # Credentials go in as a set: a fake session token next to a caller's own key would make
    # a credential that is valid nowhere.
    if "AWS_ACCESS_KEY_ID" not in os.environ and "AWS_PROFILE" not in os.environ:
        wanted.update(FAKE_CREDENTIALS)
    added = [name for name in wanted if name not in os.environ]
    for name in added:
        os.environ[name] = wanted[name]
    return added


def fake_session(region: str) -> Any:
    """A boto3 session with the fake credentials, whatever the process environment holds, so
    that nothing the local stack itself sends can be signed with a real key."""
    return boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=region,
    )
