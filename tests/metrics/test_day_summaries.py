"""metrics: the care and customer figures, read from the day summaries for a period's whole days and from
the rows for its part days, equal what the exported rows add up to: over periods with and without whole
days, measured before replies that came later, with each filter, after reassignments, reopenings, merges
of conversations and profiles, an unmerge and a repeated answer."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from shared.events import contracts as c
from shared.events.envelope import CloudEvent
from tests.helpers import Tenant, signup, unique, wait_until
from tests.metrics.test_scorecard_scenario import event, publish

D0 = datetime(2026, 3, 2, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return D0 + timedelta(days=day, hours=hour, minutes=minute)


class Days:
    """Six conversations over four days (one merged into another), four answers (one sent twice),
    five profiles with orders, a merge and an unmerge."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.conversations = {name: unique(name) for name in ("c1", "c2", "c3", "c4", "c5", "c6")}
        self.profiles = {name: unique(name) for name in ("p1", "p2", "p3", "p4", "p5")}
        self.engagement = self._engagement()
        self.profile_events = self._profiles()

    def _e(self, payload: c.Contract, when: datetime) -> CloudEvent:
        return event(self.tenant, payload, when)

    def _engagement(self) -> list[CloudEvent]:
        cv, out = self.conversations, []
        opened = [
            ("c1", "team-a", "agent-1", at(0, 9), at(0, 10), at(1, 9)),
            ("c2", "team-a", "agent-2", at(0, 22), at(0, 23), at(1, 22)),
            ("c3", "team-b", "agent-1", at(1, 10), at(1, 11), at(2, 10)),
            ("c4", "team-b", None, at(1, 23, 30), at(2, 0, 30), None),
            ("c5", "team-a", "agent-1", at(2, 11), at(2, 12), at(3, 11)),
            ("c6", "team-b", "agent-2", at(2, 12), None, None),
        ]
        for name, team, agent, when, fr_due, res_due in opened:
            payload = c.ConversationOpened(
                conversation_id=cv[name],
                profile_id=unique("prof"),
                mention_id=unique("m"),
                priority="normal",
                assignee_id=agent,
                opened_at=when,
                first_response_due_at=fr_due,
                resolution_due_at=res_due,
                team_id=team,
            )
            out.append(self._e(payload, when))
        replies = [("c1", at(0, 9), at(0, 9, 20), None), ("c2", at(0, 22), at(1, 8), None)]
        replies += [("c3", at(1, 10), at(1, 10, 5), None), ("c5", at(2, 11), at(3, 9), 3600.0)]
        for name, when, reply, business in replies:
            payload = c.ConversationFirstResponded(
                conversation_id=cv[name],
                message_id=unique("msg"),
                origin="agent",
                opened_at=when,
                responded_at=reply,
                business_seconds=business,
            )
            out.append(self._e(payload, reply))
        for name, to_status, when in (
            ("c1", "resolved", at(0, 12)),
            ("c2", "resolved", at(1, 20)),
            ("c2", "resolved", at(2, 15)),
            ("c5", "closed", at(3, 10)),
        ):
            payload = c.ConversationStatusChanged(
                conversation_id=cv[name],
                profile_id="p",
                from_status="open",
                to_status=to_status,  # type: ignore[arg-type]
                cause="agent",
                changed_at=when,
            )
            out.append(self._e(payload, when))
        reopened = c.ConversationReopened(
            conversation_id=cv["c2"], profile_id="p", mention_id="m", reopen_count=1, reopened_at=at(2, 10)
        )
        out.insert(-2, self._e(reopened, at(2, 10)))
        breached = c.SlaBreached(
            conversation_id=cv["c3"],
            profile_id="p",
            target="resolution",
            priority="normal",
            due_at=at(2, 10),
            team_id="team-b",
            fired_at=at(2, 10),
        )
        assigned = c.ConversationAssigned(conversation_id=cv["c4"], assignee_id="agent-2", team_id="team-b")
        merged = c.ConversationMerged(
            conversation_id=cv["c5"], merged_id=cv["c6"], profile_id="p", messages_moved=1
        )
        out += [self._e(breached, at(2, 10)), self._e(assigned, at(2, 9)), self._e(merged, at(2, 13))]
        answers = [
            ("csat", 5, "c1", "agent-1", "chan-x", "x", at(0, 15)),
            ("csat", 2, "c2", "agent-2", None, "instagram", at(1, 12)),
            ("nps", 10, "c3", "agent-1", "chan-x", "x", at(2, 16)),
            ("nps", 3, "c5", "agent-1", "chan-x", "x", at(3, 11)),
        ]
        for kind, score, name, agent, channel, platform, when in answers:
            payload = c.SurveyAnswered.model_validate(
                {
                    "survey_id": unique("survey"),
                    "conversation_id": cv[name],
                    "profile_id": unique("prof"),
                    "assignee_id": agent,
                    "kind": kind,
                    "score": score,
                    "channel_id": channel,
                    "platform": platform,
                    "via": "link",
                    "answered_at": when,
                }
            )
            out.append(self._e(payload, when))
        return out

    def _order(self, name: str, value: str, when: datetime, currency: str = "EUR") -> CloudEvent:
        pid = self.profiles[name]
        snapshot = c.ProfileSnapshot(
            profile_id=pid, lifecycle_stage="customer", lifetime_value={currency: value}
        )
        payload = c.ProfileUpdated(
            profile_id=pid, changed=["order_count", "lifetime_value"], profile=snapshot
        )
        return self._e(payload, when)

    def _profiles(self) -> list[CloudEvent]:
        p, out = self.profiles, []
        for name, platform, when in (
            ("p1", "x", at(0, 8)),
            ("p2", "instagram", at(1, 9)),
            ("p3", "x", at(1, 12)),
            ("p4", "partner:crm", at(2, 9)),
            ("p5", "x", at(3, 7)),
        ):
            out.append(self._e(c.ProfileCreated(profile_id=p[name], platform=platform), when))
        out += [
            self._order("p1", "30.00", at(2, 8)),
            self._order("p2", "45.50", at(2, 9, 30)),
            self._order("p3", "12.25", at(3, 6), "USD"),
            self._order("p5", "80.00", at(3, 8)),
        ]
        merge_id = unique("merge")
        merged = c.ProfileMerged(survivor_id=p["p1"], merged_id=p["p3"], reason="agent", merge_id=merge_id)
        out.append(self._e(merged, at(3, 9)))
        other = unique("merge")
        merged = c.ProfileMerged(survivor_id=p["p5"], merged_id=p["p2"], reason="agent", merge_id=other)
        unmerged = c.ProfileUnmerged(
            profile_id=p["p5"], restored_profile_id=p["p2"], identifier_ids=[], merge_id=other
        )
        out += [self._e(merged, at(3, 9, 30)), self._e(unmerged, at(3, 9, 45))]
        return out


def rows(client: httpx.Client, tenant: Tenant, metric: str, params: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page_params = {"metric": metric, "limit": "200", **params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/metrics/rows", headers=tenant.headers, params=page_params)
        assert response.status_code == 200, response.text
        page = response.json()
        out += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def nearest_rank(values: list[float], p: int) -> float | None:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) / 100), 1) - 1] if ordered else None


def from_rows(client: httpx.Client, tenant: Tenant, params: dict[str, str]) -> dict[str, Any]:
    """The figures, added up from the drill-down rows."""

    def of(metric: str) -> list[dict[str, Any]]:
        return rows(client, tenant, metric, params)

    opened = of("conversations")
    out: dict[str, Any] = {
        "opened": len(opened),
        "per_agent": dict(Counter(r["assignee_id"] for r in opened if r["assignee_id"])),
        "backlog": len(of("backlog")),
    }
    for metric, name in (("first_response", "first_response_minutes"), ("resolution", "resolution_minutes")):
        got = of(metric)
        done = [r[name] for r in got if r[name] is not None]
        out[metric] = (len(done), len(got) - len(done), nearest_rank(done, 50), nearest_rank(done, 90))
    sla = of("sla")
    out["sla"] = (len(sla), sum(r["met"] for r in sla))
    reopen = of("reopen_rate")
    out["reopen"] = (len(reopen), sum(r["reopened"] for r in reopen))
    csat, nps = of("csat"), of("nps")
    out["csat"] = (len(csat), sum(r["satisfied"] for r in csat))
    out["nps"] = (len(nps), sum(r["promoter"] for r in nps), sum(r["detractor"] for r in nps))
    conversion = of("social_conversion")
    out["conversion"] = (len(conversion), sum(r["converted"] for r in conversion))
    clv = [r for r in of("clv") if r["currency"] == "EUR"]
    out["clv"] = (
        len(clv),
        str(sum((Decimal(r["value"]) for r in clv), Decimal(0)).quantize(Decimal("0.01"))),
    )
    return out


def from_card(client: httpx.Client, tenant: Tenant, params: dict[str, str]) -> dict[str, Any]:
    response = client.get("/v1/metrics/scorecard", headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    care, customer = response.json()["care"], response.json()["customer"]
    out: dict[str, Any] = {
        "opened": care["conversations"]["opened"],
        "per_agent": care["conversations"]["per_agent"],
        "backlog": care["conversations"]["backlog"],
    }
    for metric in ("first_response", "resolution"):
        d = care[metric]
        out[metric] = (d["count"], d["pending"], d["p50_minutes"], d["p90_minutes"])
    out["sla"] = (care["sla"]["conversations"], care["sla"]["met"])
    out["reopen"] = (care["reopen"]["base"], care["reopen"]["count"])
    out["csat"] = (customer["csat"]["answers"], customer["csat"]["satisfied"])
    out["nps"] = (customer["nps"]["answers"], customer["nps"]["promoters"], customer["nps"]["detractors"])
    out["conversion"] = (customer["social_conversion"]["base"], customer["social_conversion"]["count"])
    out["clv"] = (customer["clv"]["all"]["customers"], customer["clv"]["all"]["total"])
    return out


@pytest.fixture(scope="module")
def days(stack: Stack) -> Days:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        d = Days(signup(client))
        publish(stack, d.engagement + d.profile_events)
        # The repeated answer: a second broker message of the same event.
        publish(stack, [d.engagement[-1]], again=True)
        everything = {"to": at(5, 0).isoformat()}

        def folded() -> bool:
            got = from_card(client, d.tenant, everything)
            return bool(
                got["opened"] == 5
                and got["resolution"][0] == 3
                and got["nps"][0] == 2
                and got["per_agent"].get("agent-2") == 2
                and got["clv"] == (3, "155.50")
                and got["conversion"] == (3, 3)
            )

        wait_until(folded, timeout=60, what="the days folded")
    return d


PERIODS = [
    {"from": at(0, 0), "to": at(4, 0)},  # whole days only
    {"from": at(0, 6), "to": at(3, 9, 30)},  # part days at both ends
    {"to": at(2, 12, 30)},  # from the start
    {"from": at(1, 0), "to": at(2, 0)},  # one whole day
    {"from": at(0, 21), "to": at(1, 9)},  # no whole day
    {"from": at(1, 0), "to": at(3, 8)},  # measured before c5's reply (opened on a whole day)
    {"from": at(1, 0), "to": at(3, 9, 10)},  # ... after its reply, before its closing
]
FILTERS = [{}, {"team": "team-a"}, {"agent": "agent-1"}, {"agent": "agent-2"}, {"channel": "chan-x"}]
FILTERS += [{"platform": "instagram"}, {"platform": "x"}, {"team": "team-b", "agent": "agent-2"}]


def test_figures_from_the_day_summaries_equal_the_rows(days: Days, stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        for period in PERIODS:
            for filters in FILTERS:
                params = {**{k: v.isoformat() for k, v in period.items()}, **filters}
                assert from_card(client, days.tenant, params) == from_rows(client, days.tenant, params), (
                    params
                )
        # The figures the comparisons are about (all four days, no filter).
        whole = from_card(client, days.tenant, {"from": at(0, 0).isoformat(), "to": at(4, 0).isoformat()})
    assert (whole["opened"], whole["backlog"], whole["per_agent"]) == (5, 2, {"agent-1": 3, "agent-2": 2})
    # Replies after 20, 600 and 5 minutes, and one hour of business time.
    assert whole["first_response"] == (4, 1, 20.0, 600.0)
    assert whole["sla"] == (5, 1) and whole["reopen"] == (3, 1)
    assert (whole["csat"], whole["nps"]) == ((2, 1), (2, 1, 1))
    # p1 (ordered after 2 days, and p3 merged into it), p2 (back on its own), p5 (the same day).
    assert whole["conversion"] == (3, 3)
    assert whole["clv"] == (3, "155.50")
