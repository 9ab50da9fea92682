"""API2 broken authentication: password guessing is throttled per account and per client address.

After `login_account_threshold` (5) failures in the window an account is locked for 1 s, doubling with
each further failure; a locked account answers 429 with Retry-After before its password is checked, the
same way whether or not it exists. The stack's identity uses the defaults (1 s is short enough to test);
the per-address threshold is tested on a replica started with a small one.
"""

from __future__ import annotations

import uuid

import httpx

from rapport.stack import Stack
from tests.helpers import PASSWORD, Tenant, assert_problem, find_event, signup, wait_until
from tests.identity.conftest import SpawnIdentity

WRONG = "definitely not the password"


def _login(api: httpx.Client, email: str, password: str, ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return api.post("/v1/auth/token", json={"email": email, "password": password}, headers=headers)


def _fail(api: httpx.Client, email: str, times: int, ip: str | None = None) -> None:
    for _ in range(times):
        assert _login(api, email, WRONG, ip).status_code == 401


def _not_throttled(api: httpx.Client, email: str) -> httpx.Response | None:
    response = _login(api, email, WRONG)
    return response if response.status_code != 429 else None


def test_login_locks_account_after_five_failures_with_growing_retry_after(
    accounts: httpx.Client, tenant: Tenant
) -> None:
    _fail(accounts, tenant.email, 5)
    # Locked: even the right password is refused, before it is checked.
    locked = _login(accounts, tenant.email, PASSWORD)
    problem = assert_problem(locked, 429)
    assert problem["type"] == "https://rapport.dev/problems/login-throttled"
    assert locked.headers["retry-after"] == "1"
    # Once the second is over a sixth failure locks it for 2 s.
    sixth = wait_until(lambda: _not_throttled(accounts, tenant.email), timeout=3, interval=0.2)
    assert sixth.status_code == 401
    again = _login(accounts, tenant.email, PASSWORD)
    assert_problem(again, 429)
    assert again.headers["retry-after"] == "2"
    # After the lock the right password works, and success clears the account's failures.
    ok = wait_until(
        lambda: (r := _login(accounts, tenant.email, PASSWORD)).status_code != 429 and r,
        timeout=4,
        interval=0.25,
    )
    assert ok.status_code == 200, ok.text
    _fail(accounts, tenant.email, 4)
    assert _login(accounts, tenant.email, PASSWORD).status_code == 200


def test_throttling_answers_alike_for_unknown_accounts(accounts: httpx.Client, tenant: Tenant) -> None:
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    _fail(accounts, tenant.email, 5)
    _fail(accounts, unknown, 5)
    known_locked, unknown_locked = _login(accounts, tenant.email, WRONG), _login(accounts, unknown, WRONG)
    assert_problem(known_locked, 429)
    assert_problem(unknown_locked, 429)
    assert known_locked.json() == unknown_locked.json()
    assert known_locked.headers["retry-after"] == unknown_locked.headers["retry-after"]


def test_lock_publishes_login_throttled_event_without_email(
    stack: Stack, accounts: httpx.Client, tenant: Tenant
) -> None:
    _fail(accounts, tenant.email, 5)
    event = find_event(
        stack.nats_url, "identity.login.throttled", lambda e: e["data"]["user_id"] == tenant.user_id
    )
    assert event["tenantid"] == tenant.tenant_id
    assert event["data"]["scope"] == "account"
    assert event["data"]["failures"] == 5
    assert event["data"]["retry_after_s"] == 1
    assert tenant.email not in str(event) and "127.0.0.1" not in str(event)


def test_login_locks_client_address_after_its_threshold(
    spawn_identity: SpawnIdentity, accounts: httpx.Client
) -> None:
    url = spawn_identity(RAPPORT_LOGIN_IP_THRESHOLD="3", RAPPORT_LOGIN_LOCK_BASE_S="30")
    owner = signup(accounts)
    attacker, bystander = f"10.66.{uuid.uuid4().int % 250}.7", f"10.67.{uuid.uuid4().int % 250}.8"
    with httpx.Client(base_url=url, timeout=30) as api:
        # Three accounts tried once each: no account is near its own limit, the address is.
        for n in range(3):
            _fail(api, f"spray-{n}-{uuid.uuid4().hex[:6]}@example.com", 1, ip=attacker)
        refused = _login(api, owner.email, PASSWORD, ip=attacker)
        assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        # Another address logs in as usual.
        assert _login(api, owner.email, PASSWORD, ip=bystander).status_code == 200
