"""Schedules: moto stores the EventBridge rules and never fires them; the local stack does."""

from __future__ import annotations

import time

from riskradar.local import LocalStack
from tests.integration.local_stack.probe_stack import Probe


def tick_count(stack: LocalStack) -> int:
    items = stack.client("dynamodb").scan(TableName=stack.physical_id("EffectsTable"))["Items"]
    return sum(item["pk"]["S"].startswith("tick#") for item in items)


def test_schedules_are_read_from_the_deployed_rules(stack: LocalStack) -> None:
    (schedule,) = stack.schedules()
    rule = stack.client("events").describe_rule(Name=schedule.rule_name)

    assert schedule.expression == "rate(1 hour)"
    assert schedule.function_logical_id == "TickerFunction"
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert rule["State"] == "ENABLED"


def test_firing_a_schedule_sends_the_scheduled_event_to_its_function(stack: LocalStack, probe: Probe) -> None:
    (schedule,) = stack.schedules()
    rule_arn = stack.client("events").describe_rule(Name=schedule.rule_name)["Arn"]

    result = stack.fire_schedule("TickerFunction")

    assert result["detail_type"] == "Scheduled Event"
    assert result["source"] == "aws.events"
    assert result["rule"] == rule_arn
    assert probe.effect(f"tick#{result['tick_id']}") == {
        "pk": f"tick#{result['tick_id']}",
        "rule": rule_arn,
        "detail_type": "Scheduled Event",
    }


def test_tick_fires_due_rate_schedules_with_time_compressed(stack: LocalStack) -> None:
    an_hour_in_a_fifth_of_a_second = 3600 / 0.2
    (schedule,) = stack.schedules()
    stack.tick_schedules(an_hour_in_a_fifth_of_a_second)  # fires if due since the stack started
    before = tick_count(stack)

    not_yet_due = stack.tick_schedules(an_hour_in_a_fifth_of_a_second)
    time.sleep(0.25)
    due = stack.tick_schedules(an_hour_in_a_fifth_of_a_second)

    assert not_yet_due == []
    assert due == [schedule.rule_name]
    assert tick_count(stack) == before + 1
