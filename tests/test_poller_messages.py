"""Tests of the poller's error messages: the daemon's words added to the manager's errors."""

from __future__ import annotations

import structlog
from fakes import system_job, target
from test_polling_service import ROUTER, make_service


async def test_budget_exceeded_names_poll_budget() -> None:
    service, manager, clock = make_service(target("dead", ROUTER, system_job(), poll_budget=1.5))
    manager.agent(ROUTER).dead = True
    with structlog.testing.capture_logs() as logs:
        await service.start()
        await clock.advance(5.0)
        await service.stop()

    errors = [entry["error"] for entry in logs if entry["event"] == "poll failed"]
    assert errors
    assert "the operation's deadline passed" in errors[0]
    assert "poll_budget" in errors[0]
