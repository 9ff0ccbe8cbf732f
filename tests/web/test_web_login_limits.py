"""Sign-in throttling (coach/login_limits.py): growing delays per account and address and per
address, never a lock-out of the owner. Over HTTP with Flask's test client (each client has its
own REMOTE_ADDR, which is what the app counts when no proxy is configured), and the limiter
itself over simulated hours for the rate bounds in docs/security.md. Time passes by moving the
stored attempts back, never by sleeping; and where a test needs an attempt to be refused, the
wait it is refused for is at least a minute, so a slow machine cannot make it pass."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coach import create_app, login_limits
from coach.login_limits import Counts, Limits, backoff_s, wait_s
from tests.support.web_support import PASSWORD, login, rows, settings_for

pytestmark = pytest.mark.integration

WRONG = "wrong password 123"
LIMITS = Limits()
# The rate bounds docs/security.md states for the default limits.
PAIR_FAILURES_PER_HOUR = 15
ADDRESS_FAILURES_PER_HOUR = 84


def from_address(app, address, **environ):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    c.environ_base.update(environ)
    return c


def time_passes(conn, seconds):
    rows(conn, "UPDATE login_attempts SET attempted_at = attempted_at - make_interval(secs => %s) "
               "RETURNING 1", (seconds,))


def failures(c, conn, email, n):
    """``n`` recorded failures for ``email`` from this client, letting each wait pass; after
    ten on one account (or 26 from one address) the next attempt waits at least a minute."""
    for _ in range(n):
        answer = login(c, email, WRONG)
        if answer.status_code == 429:
            time_passes(conn, int(answer.headers["Retry-After"]))
            answer = login(c, email, WRONG)
        assert answer.status_code == 401


def test_backoff_is_free_then_doubles_up_to_the_cap():
    assert [backoff_s(n, 3, 900) for n in range(0, 16)] == [
        0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    assert backoff_s(10 ** 6, 3, 900) == 900  # no overflow for absurd counts


def test_a_clean_address_never_waits_whatever_the_counts():
    hammered = Counts(pair_failures=0, pair_ago_s=None, account_failures=10 ** 5,
                      address_failures=0, address_ago_s=None)
    assert wait_s(hammered, LIMITS) == 0


counts_strategy = st.builds(
    Counts, pair_failures=st.integers(0, 10 ** 6),
    pair_ago_s=st.none() | st.floats(0, 10 ** 6), account_failures=st.integers(0, 10 ** 6),
    address_failures=st.integers(0, 10 ** 6), address_ago_s=st.none() | st.floats(0, 10 ** 6),
    known_address=st.booleans())


@given(counts_strategy, st.integers(1, 1000))
def test_waits_are_bounded_and_more_failures_never_shorten_them(counts, more):
    wait = wait_s(counts, LIMITS)
    assert 0 <= wait <= LIMITS.max_delay_s
    worse = Counts(counts.pair_failures + more, counts.pair_ago_s,
                   counts.account_failures + more, counts.address_failures + more,
                   counts.address_ago_s, counts.known_address)
    assert wait_s(worse, LIMITS) >= wait
    if counts.pair_ago_s is None:  # never failed on this account from here
        assert wait <= LIMITS.max_address_delay_s
        if counts.address_ago_s is None or counts.known_address:
            assert wait == 0


def test_the_reported_lockout_five_failures_elsewhere_leave_the_owner_in(web_app, make_user,
                                                                         db_conn):
    """Finding 2, first case, as written: five wrong passwords from one address, then the
    owner's correct password from another."""
    victim = make_user("athlete")
    attacker = from_address(web_app, "198.51.100.9")
    failures(attacker, db_conn, victim["email"], 5)
    owner = from_address(web_app, "203.0.113.20")
    assert login(owner, victim["email"]).status_code == 302
    assert owner.get("/profile").status_code == 200
    failures(attacker, db_conn, victim["email"], 5)  # ten now: the attacker waits 128 s
    slowed = login(attacker, victim["email"], PASSWORD)
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 60


def test_the_reported_nat_lockout_thirty_failures_leave_a_regular_admin_in(web_app, make_user,
                                                                           db_conn):
    """Finding 2, second case, as written: thirty failures from the gym's one address, then an
    admin's correct password from that address. The admin signed in from the gym before."""
    admin = make_user("admin")
    gym = "192.0.2.50"
    assert login(from_address(web_app, gym), admin["email"]).status_code == 302
    time_passes(db_conn, 86_400)  # yesterday
    stranger = from_address(web_app, gym)
    for i in range(30):
        failures(stranger, db_conn, f"guess{i}@example.org", 1)
    assert login(from_address(web_app, gym), admin["email"]).status_code == 302
    # A first-time user behind that NAT waits at most the address cap, then signs in.
    newcomer = make_user("athlete")
    slowed = login(from_address(web_app, gym), newcomer["email"])
    assert slowed.status_code == 429
    assert 1 <= int(slowed.headers["Retry-After"]) <= LIMITS.max_address_delay_s
    time_passes(db_conn, LIMITS.max_address_delay_s)
    assert login(from_address(web_app, gym), newcomer["email"]).status_code == 302


def test_waits_double_after_the_free_failures(db_conn):
    """n failures a second apart, asked at the last one: 0, 0, then 1 s doubling."""
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    waits = []
    for n in range(1, 9):
        email = f"n{n}@example.org"
        for i in range(n):
            login_limits.record(db_conn, email, f"192.0.2.{n}", succeeded=False,
                                now=start + timedelta(seconds=i))
        waits.append(login_limits.retry_after_s(db_conn, LIMITS, email, f"192.0.2.{n}",
                                                now=start + timedelta(seconds=n - 1)))
    db_conn.commit()
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32]


def test_a_waiting_attempt_checks_no_password_and_the_wait_ends(web_app, make_user, db_conn):
    user = make_user("trainer")
    c = from_address(web_app, "198.51.100.30")
    failures(c, db_conn, user["email"], 10)
    refused = login(c, user["email"], PASSWORD)  # the right password, while waiting
    assert refused.status_code == 429 and "Try again in" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 60
    recorded = rows(db_conn, "SELECT count(*) FROM login_attempts")[0][0]
    assert recorded == 10  # the refused attempts are not stored
    time_passes(db_conn, LIMITS.max_delay_s)
    assert login(c, user["email"]).status_code == 302  # no hard block: the wait ends
    assert login(from_address(web_app, "198.51.100.30"), user["email"], WRONG).status_code == 401


def test_unknown_emails_are_slowed_like_real_ones(web_app, make_user, db_conn):
    real = make_user("athlete")
    answers = {}
    for email, address in ((real["email"], "198.51.100.40"), ("ghost@example.org",
                                                               "198.51.100.41")):
        c = from_address(web_app, address)
        failures(c, db_conn, email, 10)
        answers[email] = login(c, email, WRONG).status_code
    assert answers == {real["email"]: 429, "ghost@example.org": 429}


def test_one_account_from_many_addresses(web_db, make_user, db_conn):
    """Each fresh address gets one guess; once the account has ACCOUNT_FREE_FAILURES failures,
    every address that failed on it waits after its own failure; the owner on a clean address
    signs in. (The account-wide cap is raised to an hour here so that the second round is
    refused however slowly the first one ran.)"""
    app = create_app(settings_for(web_db, login_max_address_delay_s=3600), TESTING=True)
    victim = make_user("admin")
    attackers = [from_address(app, f"10.1.{i // 250}.{i % 250 + 1}") for i in range(25)]
    assert [login(a, victim["email"], WRONG).status_code for a in attackers] == [401] * 25
    second = [login(a, victim["email"], WRONG) for a in attackers]
    assert all(r.status_code == 429 for r in second)
    assert rows(db_conn, "SELECT count(*) FROM login_attempts WHERE NOT succeeded")[0][0] == 25
    owner = from_address(app, "203.0.113.77")
    assert login(owner, victim["email"]).status_code == 302
    app.extensions["coach_db"].close()


def test_many_accounts_from_one_address(web_app, make_user, db_conn):
    users = [make_user("athlete") for _ in range(3)]
    stuffer = from_address(web_app, "198.51.100.60")
    statuses = [login(stuffer, f"list{i}@example.org", WRONG).status_code
                for i in range(LIMITS.free_per_address)]
    assert statuses == [401] * LIMITS.free_per_address  # a gym's worth of typos is free
    for i in range(LIMITS.free_per_address, 30):
        failures(stuffer, db_conn, f"list{i}@example.org", 1)
    for i in range(30, 33):  # thirty failures: every email from here waits a minute
        assert login(stuffer, f"list{i}@example.org", WRONG).status_code == 429
    assert login(stuffer, users[0]["email"]).status_code == 429  # no password checked
    for user in users:  # everyone else signs in from their own addresses
        assert login(from_address(web_app, "203.0.113.5"), user["email"]).status_code == 302


def test_client_address_comes_from_the_proxy_only_when_one_is_configured(web_db, make_user,
                                                                          db_conn):
    user = make_user("athlete")

    def after_failures(app, forged_first, forged_then):
        first = from_address(app, "127.0.0.1", HTTP_X_FORWARDED_FOR=forged_first)
        failures(first, db_conn, user["email"], 10)
        then = from_address(app, "127.0.0.1", HTTP_X_FORWARDED_FOR=forged_then)
        return login(then, user["email"]).status_code

    direct = create_app(settings_for(web_db), TESTING=True)
    # Without a trusted proxy a forged X-Forwarded-For changes nothing: one address, slowed.
    assert after_failures(direct, "198.51.100.1", "198.51.100.2") == 429
    direct.extensions["coach_db"].close()
    proxied = create_app(settings_for(web_db, proxy_hops=1), TESTING=True)
    rows(db_conn, "DELETE FROM login_attempts RETURNING 1")
    assert after_failures(proxied, "203.0.113.1", "203.0.113.2") == 302  # another client
    proxied.extensions["coach_db"].close()


def _attack(conn, limits, emails, address, hours):
    """Guess as fast as the limiter lets one address, over simulated time; the failure times."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=400)
    t, times, k = 0.0, [], 0
    while t < hours * 3600:
        now = start + timedelta(seconds=t)
        email = emails[k % len(emails)]
        wait = login_limits.retry_after_s(conn, limits, email, address, now=now)
        if wait:
            t += wait
            continue
        login_limits.record(conn, email, address, succeeded=False, now=now)
        times.append(t)
        k += 1
        t += 0.1
    conn.commit()
    return times


def _most_in_any_hour(times):
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= 3600:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_attack_rates_are_bounded_as_documented(db_conn):
    """The limiter driven directly over six simulated hours: one address on one account, and
    one address over many accounts (credential stuffing)."""
    one_account = _attack(db_conn, LIMITS, ["victim@example.org"], "198.51.100.70", 6)
    assert _most_in_any_hour(one_account) <= PAIR_FAILURES_PER_HOUR
    stuffing = _attack(db_conn, LIMITS, [f"u{i}@example.org" for i in range(5000)],
                       "198.51.100.71", 6)
    assert _most_in_any_hour(stuffing) <= ADDRESS_FAILURES_PER_HOUR
    assert len(stuffing) > len(one_account)  # a gym's address is slowed less than an account
