"""API2 broken authentication: password guessing is throttled per account and per client address.

After `login_account_threshold` (5) failures in the window an account is locked for `login_lock_base_s`,
doubling with each further failure; a locked account answers 429 with Retry-After before its password is
checked, the same way whether or not it exists. The tests run on an identity replica (same database and
NATS as the stack's) with a 2 s base lock and a per-address threshold of 8; each test speaks from its own
client address (`X-Forwarded-For`, as the gateway sets it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import PASSWORD, Tenant, assert_problem, find_event, replica, signup, wait_until

WRONG = "definitely not the password"
BASE_S = 2
IP_THRESHOLD = 8


@pytest.fixture(scope="module")
def throttled(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An identity replica with a 2 s base lock and a per-address threshold of 8."""
    env = {"RAPPORT_LOGIN_LOCK_BASE_S": str(BASE_S), "RAPPORT_LOGIN_IP_THRESHOLD": str(IP_THRESHOLD)}
    with replica(stack, "identity", tmp_path_factory.mktemp("throttle"), env=env) as url:
        yield url


@pytest.fixture
def api(throttled: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=throttled, timeout=30) as c:
        yield c


def _ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def _login(api: httpx.Client, email: str, password: str, ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return api.post("/v1/auth/token", json={"email": email, "password": password}, headers=headers)


def _fail(api: httpx.Client, email: str, times: int, ip: str | None = None) -> None:
    for _ in range(times):
        assert _login(api, email, WRONG, ip).status_code == 401


def _not_throttled(api: httpx.Client, email: str, password: str, ip: str) -> httpx.Response | None:
    response = _login(api, email, password, ip)
    return response if response.status_code != 429 else None


@pytest.mark.slow
def test_login_locks_account_after_five_failures_with_growing_retry_after(
    api: httpx.Client, tenant: Tenant
) -> None:
    ip = _ip()
    _fail(api, tenant.email, 5, ip)
    # Locked: even the right password is refused, before it is checked.
    locked = _login(api, tenant.email, PASSWORD, ip)
    problem = assert_problem(locked, 429)
    assert problem["type"] == "https://rapport.dev/problems/login-throttled"
    assert 1 <= int(locked.headers["retry-after"]) <= BASE_S
    # Once the lock is over a sixth failure locks it for twice as long.
    sixth = wait_until(lambda: _not_throttled(api, tenant.email, WRONG, ip), timeout=BASE_S + 2, interval=0.2)
    assert sixth.status_code == 401
    again = _login(api, tenant.email, PASSWORD, ip)
    assert_problem(again, 429)
    assert BASE_S < int(again.headers["retry-after"]) <= 2 * BASE_S
    # After the lock the right password works, and success clears the account's failures.
    ok = wait_until(
        lambda: _not_throttled(api, tenant.email, PASSWORD, ip), timeout=2 * BASE_S + 2, interval=0.25
    )
    assert ok.status_code == 200, ok.text
    ip = _ip()
    _fail(api, tenant.email, 4, ip)
    assert _login(api, tenant.email, PASSWORD, ip).status_code == 200


def test_throttling_answers_alike_for_unknown_accounts(api: httpx.Client, tenant: Tenant) -> None:
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    ip = _ip()
    _fail(api, tenant.email, 5, ip)
    known_locked = _login(api, tenant.email, WRONG, ip)
    ip = _ip()
    _fail(api, unknown, 5, ip)
    unknown_locked = _login(api, unknown, WRONG, ip)
    assert_problem(known_locked, 429)
    assert_problem(unknown_locked, 429)
    assert known_locked.json() == unknown_locked.json()


def test_lock_publishes_login_throttled_event_without_email(
    stack: Stack, api: httpx.Client, tenant: Tenant
) -> None:
    ip = _ip()
    _fail(api, tenant.email, 5, ip)
    event = find_event(
        stack.nats_url, "identity.login.throttled", lambda e: e["data"]["user_id"] == tenant.user_id
    )
    assert event["tenantid"] == tenant.tenant_id
    assert event["data"]["scope"] == "account"
    assert event["data"]["failures"] == 5
    assert event["data"]["retry_after_s"] == BASE_S
    assert tenant.email not in str(event) and ip not in str(event)


def test_login_locks_client_address_after_its_threshold(api: httpx.Client, accounts: httpx.Client) -> None:
    owner = signup(accounts)
    attacker, bystander = _ip(), _ip()
    # Accounts tried once each: none is near its own limit, the address is.
    for n in range(IP_THRESHOLD):
        _fail(api, f"spray-{n}-{uuid.uuid4().hex[:6]}@example.com", 1, ip=attacker)
    refused = _login(api, owner.email, PASSWORD, ip=attacker)
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= BASE_S
    # Another address logs in as usual.
    assert _login(api, owner.email, PASSWORD, ip=bystander).status_code == 200
