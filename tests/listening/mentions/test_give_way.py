"""The analysis worker gives way to an ingest burst, for at most MAX_GIVE_WAY_S at a time."""

from __future__ import annotations

import pytest

from services.listening.mentions import analysing, ingesting


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
    monkeypatch.setattr(ingesting, "_recent", type(ingesting._recent)())
    return clock


def received(clock: Clock, count: int) -> None:
    ingesting._recent.append((clock.now, count))


def test_below_the_burst_rate_the_worker_never_waits(clock: Clock) -> None:
    worker = analysing.AnalysisWorker(sessions=None, burst_rate=250)  # type: ignore[arg-type]
    for _ in range(20):
        received(clock, 100)  # 100 posts/s, steadily
        assert not worker._give_way()
        clock.now += 1.0


def test_a_burst_is_given_way_to_but_never_for_long(clock: Clock) -> None:
    worker = analysing.AnalysisWorker(sessions=None, burst_rate=250)  # type: ignore[arg-type]
    ways = []
    for _ in range(120):  # 12 s of 3,000 posts/s
        received(clock, 300)
        ways.append(worker._give_way())
        clock.now += 0.1
    steps = [i for i, way in enumerate(ways) if not way]
    # One batch after each MAX_GIVE_WAY_S of giving way: the backlog is announced even during a flood.
    assert len(steps) == 2
    assert steps[1] - steps[0] == pytest.approx(analysing.MAX_GIVE_WAY_S / 0.1 + 1, abs=1)

    clock.now += ingesting.RATE_WINDOW_S + 0.01  # the burst is over
    assert ingesting.demand() == 0
    assert not worker._give_way()
