"""The analysis worker gives way to an ingest burst, for at most MAX_GIVE_WAY_S at a time."""

from __future__ import annotations

import pytest

from services.listening.mentions import analysing, ingesting
from services.listening.mentions.ingesting import IngestTraffic
from services.listening.queries.logic import QueryMatcher
from services.listening.wakeups import Wakeups


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ingesting.time, "monotonic", clock)
    monkeypatch.setattr(analysing.time, "monotonic", clock)
    return clock


def worker_of(traffic: IngestTraffic) -> analysing.AnalysisWorker:
    return analysing.AnalysisWorker(
        sessions=None,  # type: ignore[arg-type]
        traffic=traffic,
        wakeups=Wakeups(),
        matcher=QueryMatcher(budget_s=0.05),
        burst_rate=250,
    )


def received(traffic: IngestTraffic, count: int) -> None:
    """One request of `count` posts, answered at once (at the clock's time)."""
    traffic.received(count)
    traffic.answered(count)


def test_below_the_burst_rate_the_worker_never_waits(clock: Clock) -> None:
    traffic = IngestTraffic()
    worker = worker_of(traffic)
    for _ in range(20):
        received(traffic, 100)  # 100 posts/s, steadily
        assert not worker._give_way()
        clock.now += 1.0


def test_a_burst_is_given_way_to_but_never_for_long(clock: Clock) -> None:
    traffic = IngestTraffic()
    worker = worker_of(traffic)
    ways = []
    for _ in range(120):  # 12 s of 3,000 posts/s
        received(traffic, 300)
        ways.append(worker._give_way())
        clock.now += 0.1
    steps = [i for i, way in enumerate(ways) if not way]
    # One batch after each MAX_GIVE_WAY_S of giving way: the backlog is announced even during a flood.
    assert len(steps) == 2
    assert steps[1] - steps[0] == pytest.approx(analysing.MAX_GIVE_WAY_S / 0.1 + 1, abs=1)

    clock.now += ingesting.RATE_WINDOW_S + 0.01  # the burst is over
    assert traffic.demand() == 0
    assert not worker._give_way()
