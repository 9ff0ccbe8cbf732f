"""``next`` after sign-in (coach.auth.safe_next): a path of this app, nothing else. Hypothesis
mutates valid paths with what open redirects are made of; every accepted value must resolve to
this app's origin, and signing in with a refused one goes to the dashboard, never a 500."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coach.auth import safe_next
from tests.support.web_support import PASSWORD, form_token, home_path

ORIGIN = "https://coach.example.org"
VALID = ["/admin/users", "/profile?lift=squat&page=2", "/dashboard",
         "/sessions/6f1c2d4e-0000-4000-8000-000000000001", "/athletes/x?date_from=2026-01-01"]
# What open redirects are made of, raw and percent-encoded (once and twice).
HOSTILE = ["/", "//", "\\", "%2F", "%2f", "%5C", "%252F", "%09", "%0a", "%0D", "\t", "\n", "\r",
           "\x00", "%00", " ", "%20", "https:", "http://", "javascript:", "evil.example", "@",
           ":", ".", "..", "?", "#", "%23", "\u3000", "\uff0f", "%E3%80%80", "/%09/"]


def _resolves_here(value: str) -> bool:
    """What a browser does with Location: drop tabs and newlines, read backslashes as slashes,
    resolve against the page's origin."""
    seen = value.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    target = urlsplit(urljoin(ORIGIN + "/login", seen))
    return (f"{target.scheme}://{target.netloc}" == ORIGIN and target.path.startswith("/")
            and not target.path.startswith("//"))


@st.composite
def mutated_paths(draw: st.DrawFn) -> str:
    value = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        piece = draw(st.sampled_from(HOSTILE) | st.text(max_size=3))
        at = draw(st.integers(0, len(value)))
        value = value[:at] + piece + value[at:]
    return value


@settings(max_examples=3000, deadline=None)
@given(mutated_paths() | st.text(max_size=40))
def test_every_accepted_next_resolves_to_this_app(value):
    accepted = safe_next(value)
    assert accepted in (None, value)
    if accepted is not None:
        assert _resolves_here(accepted), accepted
        assert not urlsplit(accepted).scheme and not urlsplit(accepted).netloc


@pytest.mark.parametrize("value", VALID)
def test_paths_of_this_app_are_kept(value):
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [
    "/%09/evil.example", "/\t/evil.example", "//evil", "/\\evil", "\\\\evil", "%2F%2Fevil",
    "/%2F/evil", "/%5Cevil", "%252F%252Fevil", "https://evil.example/", "javascript:alert(1)",
    "/\n/evil", "/\r\nSet-Cookie: x=1", "evil.example", "", "/\x00", "/\u3000/evil",
    "/" + "a" * 3000])
def test_open_redirect_shapes_are_refused(value):
    assert safe_next(value) is None


@pytest.mark.integration
@pytest.mark.parametrize("raw_query", [
    "next=/%09/evil.example",  # the reported one: Location was //evil.example
    "next=/%0a/evil.example",  # a newline: was a 500
    "next=/%0d%0aSet-Cookie:%20x=1", "next=//evil", "next=/%5Cevil", "next=%2F%2Fevil",
    "next=%252F%252Fevil", "next=https://evil.example/"])
def test_signing_in_with_a_bad_next_goes_to_the_dashboard(client, make_user, raw_query):
    user = make_user("athlete")
    token = form_token(client, "/login")
    response = client.post(f"/login?{raw_query}", data={
        "email": user["email"], "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == home_path(client.application)
