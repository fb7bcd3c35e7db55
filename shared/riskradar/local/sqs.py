"""SQS event sources: the part of the Lambda service that polls a queue and invokes a function.

The mappings come from moto (created disabled from the template); this module polls in their
place with Lambda's semantics: batching, partial batch responses, filtering, retries, redrive.

FIFO queues need nothing of their own here: moto's queue keeps a message group locked while any
of its messages is in flight and hands the group out in order, and the poller delivers one batch
at a time, so a group's batches reach the function in order and never overlap. What Lambda
refuses for a FIFO source (a batch over 10, a batching window) is refused here too, at start.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPattern

from riskradar.local.faults import FaultInjector
from riskradar.local.logs import logger
from riskradar.local.runtime import LocalFunction

#: SQS hands out at most 10 messages per ReceiveMessage; Lambda gathers larger batches from
#: several receives. Lambda's own limit for a standard queue's batch is 10,000.
_MESSAGES_PER_RECEIVE = 10
_MAX_BATCH_SIZE = 10_000
#: Lambda's limit for a FIFO queue's batch (and it allows no batching window there).
_MAX_FIFO_BATCH_SIZE = 10
_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


class InvalidEventSource(ValueError):
    """An event source mapping Lambda's CreateEventSourceMapping would refuse."""


def check_event_source(
    queue_arn: str,
    *,
    batch_size: int,
    batching_window_s: float,
    visibility_timeout_s: int,
    function_timeout_s: int,
) -> None:
    """Raise InvalidEventSource where Lambda's CreateEventSourceMapping refuses the mapping, so
    that a template the local stack runs is one AWS would deploy."""
    if visibility_timeout_s < function_timeout_s:
        raise InvalidEventSource(
            f"{queue_arn}: the queue's visibility timeout ({visibility_timeout_s} s) is less than the "
            f"function's timeout ({function_timeout_s} s)"
        )
    if not queue_arn.endswith(".fifo"):
        if batch_size > _MAX_FIFO_BATCH_SIZE and batching_window_s <= 0:
            raise InvalidEventSource(
                f"{queue_arn}: a batch size above {_MAX_FIFO_BATCH_SIZE} needs a batching window "
                "(MaximumBatchingWindowInSeconds of at least 1)"
            )
        return
    if batch_size > _MAX_FIFO_BATCH_SIZE:
        raise InvalidEventSource(
            f"{queue_arn}: a FIFO queue's batch size is at most {_MAX_FIFO_BATCH_SIZE}, got {batch_size}"
        )
    if batching_window_s > 0:
        raise InvalidEventSource(f"{queue_arn}: a batching window is not supported for FIFO queues")


@dataclass(frozen=True)
class SqsEventSource:
    """One SQS event source mapping, as moto holds it."""

    uuid: str
    function: LocalFunction
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    #: Event filter patterns (EventBridge syntax); a message matching none is deleted unseen.
    filter_patterns: tuple[EventPattern, ...]

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]


def read_event_sources(
    lambda_client: Any,
    sqs_client: Any,
    *,
    mapping_uuids: Iterable[str],
    functions_by_name: Mapping[str, LocalFunction],
) -> list[SqsEventSource]:
    """The SQS mappings among `mapping_uuids`, read back from moto."""
    wanted = set(mapping_uuids)
    sources: list[SqsEventSource] = []
    paginator = lambda_client.get_paginator("list_event_source_mappings")
    for page in paginator.paginate():
        for mapping in page["EventSourceMappings"]:
            if mapping["UUID"] not in wanted:
                continue
            arn = mapping["EventSourceArn"]
            function_name = mapping["FunctionArn"].split(":function:", 1)[1].split(":", 1)[0]
            if ":sqs:" not in arn:
                logger.warning("event source %s of %s is not polled locally: only SQS is", arn, function_name)
                continue
            sources.append(_event_source(sqs_client, mapping, functions_by_name[function_name]))
    return sources


def _event_source(sqs_client: Any, mapping: Mapping[str, Any], function: LocalFunction) -> SqsEventSource:
    arn = str(mapping["EventSourceArn"])
    *_, account, queue_name = arn.split(":")
    queue_url = sqs_client.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    filters = mapping.get("FilterCriteria", {}).get("Filters", [])
    batch_size = int(mapping.get("BatchSize", 10))
    batching_window_s = float(mapping.get("MaximumBatchingWindowInSeconds", 0))
    visibility = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    check_event_source(
        arn,
        batch_size=batch_size,
        batching_window_s=batching_window_s,
        visibility_timeout_s=int(visibility["Attributes"]["VisibilityTimeout"]),
        function_timeout_s=function.configuration.timeout_s,
    )
    return SqsEventSource(
        uuid=str(mapping["UUID"]),
        function=function,
        queue_arn=arn,
        queue_url=str(queue_url),
        batch_size=min(batch_size, _MAX_BATCH_SIZE),
        batching_window_s=batching_window_s,
        report_batch_item_failures=_BATCH_ITEM_FAILURES in (mapping.get("FunctionResponseTypes") or []),
        filter_patterns=tuple(EventPattern.load(entry["Pattern"]) for entry in filters),
    )


class SqsPoller:
    """Polls every SQS event source and invokes its function in-process."""

    def __init__(
        self,
        sqs_client: Any,
        sources: Sequence[SqsEventSource],
        *,
        region: str,
        retry_delay_s: int = 0,
        batching_window_scale: float = 0.0,
    ) -> None:
        self._sqs = sqs_client
        self.sources = tuple(sources)
        self._region = region
        # Lambda leaves a failed message invisible for the queue's VisibilityTimeout (often
        # minutes); locally it comes back after retry_delay_s.
        self._retry_delay_s = retry_delay_s
        # 0.0: stop gathering as soon as the queue is empty instead of waiting out the window.
        self._window_scale = batching_window_scale
        self._lock = threading.Lock()
        #: Poison messages and redeliveries injected by the local stack's FaultPlan, if any.
        self.faults: FaultInjector | None = None

    def poll_once(self) -> int:
        """Gather and deliver at most one batch per event source; return the messages delivered."""
        with self._lock:
            return sum(self._deliver_one_batch(source) for source in self.sources)

    def run_until_idle(self, timeout_s: float = 60.0, poll_interval_s: float = 0.02) -> None:
        """Poll until every polled queue is empty, retries and delayed messages included."""
        deadline = time.monotonic() + timeout_s
        while True:
            delivered = self.poll_once()
            if not delivered and all(self._pending(s.queue_url) == 0 for s in self.sources):
                return
            if time.monotonic() > deadline:
                depths = {s.queue_name: self._pending(s.queue_url) for s in self.sources}
                raise TimeoutError(f"queues not drained after {timeout_s} s: {depths}")
            if not delivered:
                # Only retries waiting out retry_delay_s or delayed messages are left.
                time.sleep(poll_interval_s)

    def queue_depth(self, queue_url: str) -> int:
        """Messages visible plus in flight (received, not yet deleted or returned)."""
        attributes = self._queue_counts(queue_url)
        return attributes["ApproximateNumberOfMessages"] + attributes["ApproximateNumberOfMessagesNotVisible"]

    def _pending(self, queue_url: str) -> int:
        attributes = self._queue_counts(queue_url)
        return sum(attributes.values())

    def _queue_counts(self, queue_url: str) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        return {name: int(attributes.get(name, 0)) for name in names}

    def _deliver_one_batch(self, source: SqsEventSource) -> int:
        self._maybe_poison(source)
        messages = self._gather(source)
        if not messages:
            return 0
        delivered, filtered_out = _split_by_filters(
            source, [_lambda_record(source, m, self._region) for m in messages]
        )
        if filtered_out:
            # Lambda deletes SQS messages that match no filter.
            self._delete(source, filtered_out)
        if not delivered:
            return 0
        failed_ids = self._invoke(source, delivered)
        succeeded = [record for record in delivered if record["messageId"] not in failed_ids]
        failed = [record for record in delivered if record["messageId"] in failed_ids]
        # SQS is at-least-once: a message processed successfully may be delivered again.
        redelivered = [record for record in succeeded if self.faults is not None and self.faults.redeliver()]
        self._delete(source, [record for record in succeeded if record not in redelivered])
        self._return_to_queue(source, failed + redelivered)
        logger.info(
            "%s -> %s: %d delivered, %d succeeded, %d returned to the queue",
            source.queue_name,
            source.function.logical_id,
            len(delivered),
            len(succeeded),
            len(failed),
        )
        return len(delivered)

    def _maybe_poison(self, source: SqsEventSource) -> None:
        faults = self.faults
        body = faults.poison_for(source.queue_name) if faults is not None else None
        if faults is None or body is None:
            return
        request: dict[str, Any] = {"QueueUrl": source.queue_url, "MessageBody": body}
        if source.queue_arn.endswith(".fifo"):
            nonce = hashlib.sha256(f"{body}|{time.time_ns()}".encode()).hexdigest()
            request |= {"MessageGroupId": "poison", "MessageDeduplicationId": nonce}
        message_id = str(self._sqs.send_message(**request)["MessageId"])
        faults.record_poison(message_id, body)

    def _gather(self, source: SqsEventSource) -> list[dict[str, Any]]:
        """Receive until the batch is full, or the (scaled) batching window has passed since the
        first message, or at once when the queue is empty and the scale is 0."""
        batch: list[dict[str, Any]] = []
        window_ends = 0.0
        while len(batch) < source.batch_size:
            received = self._sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(_MESSAGES_PER_RECEIVE, source.batch_size - len(batch)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if received and not batch:
                window_ends = time.monotonic() + source.batching_window_s * self._window_scale
            batch.extend(received)
            if received:
                continue
            remaining = window_ends - time.monotonic()
            if not batch or remaining <= 0:
                break
            time.sleep(min(0.05, remaining))
        return batch

    def _invoke(self, source: SqsEventSource, records: list[dict[str, Any]]) -> set[str]:
        """Invoke the function; return the ids of the messages that must be retried."""
        batch_ids = {record["messageId"] for record in records}
        try:
            response = source.function.invoke({"Records": records})
        except Exception:
            logger.exception(
                "%s failed; the whole batch of %d returns to the queue",
                source.function.logical_id,
                len(records),
            )
            return batch_ids
        if not source.report_batch_item_failures:
            return set()
        return _reported_failures(source, response, batch_ids)

    def _delete(self, source: SqsEventSource, records: list[dict[str, Any]]) -> None:
        for chunk in _chunks(records, _MESSAGES_PER_RECEIVE):
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            outcome = self._sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=entries)
            for failure in outcome.get("Failed", []):
                logger.warning(
                    "%s: could not delete a message: %s", source.queue_name, failure.get("Message")
                )

    def _return_to_queue(self, source: SqsEventSource, records: list[dict[str, Any]]) -> None:
        for chunk in _chunks(records, _MESSAGES_PER_RECEIVE):
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": self._retry_delay_s}
                for i, r in enumerate(chunk)
            ]
            outcome = self._sqs.change_message_visibility_batch(QueueUrl=source.queue_url, Entries=entries)
            for failure in outcome.get("Failed", []):
                logger.warning(
                    "%s: could not return a message: %s", source.queue_name, failure.get("Message")
                )


def _reported_failures(source: SqsEventSource, response: Any, batch_ids: set[str]) -> set[str]:
    """Lambda's reading of a partial batch response.

    No response, no `batchItemFailures` or an empty list mean success. A failure entry whose
    itemIdentifier is missing, empty or not in the batch makes the whole batch fail.
    """
    if not isinstance(response, dict):
        return set()
    items = response.get("batchItemFailures")
    if not items:
        return set()
    identifiers = (
        [item.get("itemIdentifier") for item in items if isinstance(item, dict)]
        if isinstance(items, list)
        else []
    )
    if len(identifiers) != len(items) or not all(isinstance(i, str) and i in batch_ids for i in identifiers):
        logger.error(
            "%s returned a malformed batchItemFailures %r; the whole batch fails",
            source.function.logical_id,
            items,
        )
        return batch_ids
    return {str(identifier) for identifier in identifiers}


def _split_by_filters(
    source: SqsEventSource, records: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not source.filter_patterns:
        return records, []
    matching: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for record in records:
        # Lambda matches `body` patterns against the parsed body when it is JSON.
        try:
            view: Any = {**record, "body": json.loads(record["body"])}
        except ValueError:
            view = record
        (matching if any(p.matches_event(view) for p in source.filter_patterns) else rest).append(record)
    return matching, rest


def _lambda_record(source: SqsEventSource, message: Mapping[str, Any], region: str) -> dict[str, Any]:
    """An SQS message as Lambda presents it (camelCase keys, Lambda-style message attributes)."""
    body = str(message["Body"])
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(attribute)
            for name, attribute in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(attribute: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": attribute["DataType"],
    }
    if "BinaryValue" in attribute:
        converted["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode("ascii")
    else:
        converted["stringValue"] = attribute.get("StringValue")
    return converted


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
