"""Sign-up invitations: a random token whose SHA-256 is stored. The link is e-mailed to the
invitee when the app sends mail (``delivery = 'mailed'``), else shown once to the inviter.

An admin may invite any role; a trainer invites athletes only, and a new athlete who signs up
through a trainer's invitation is assigned to that trainer.

An invitation never hands an existing account to its inviter (docs/web.md, "Claiming an
existing account"): only a mailed link (whoever opens it controls the address) or an admin's
link gives a password to an account that has none, the account keeps its role, and a
trainer's invitation to the address of an existing athlete is only a request to join the
roster, which the athlete or an admin answers (``pending_requests``, ``answer_request``).
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from coach.accounts import normalise_email
from coach.db import execute, query, query_one

TOKEN_BYTES = 24
DELIVERIES = ("shown", "mailed")

# Open invitations from a trainer to the address of an existing athlete: roster requests.
_PENDING_REQUESTS = """
    SELECT i.id::text AS id, i.created_at, i.expires_at,
           t.id::text AS trainer_id, t.first_name || ' ' || t.last_name AS trainer_name,
           t.email AS trainer_email, a.id::text AS athlete_id,
           a.first_name || ' ' || a.last_name AS athlete_name, a.email AS athlete_email
      FROM invitations i
      JOIN users t ON t.id = i.invited_by AND t.role = 'trainer'
      JOIN users a ON lower(a.email) = i.email AND a.role = 'athlete'
     WHERE i.role = 'athlete' AND i.used_at IS NULL AND i.revoked_at IS NULL
       AND i.expires_at > now()
       AND NOT EXISTS (SELECT 1 FROM trainer_athletes ta
                        WHERE ta.trainer_id = t.id AND ta.athlete_id = a.id)"""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def roles_invitable_by(user: dict[str, Any]) -> tuple[str, ...]:
    if user["role"] == "admin":
        return ("athlete", "trainer", "admin")
    if user["role"] == "trainer":
        return ("athlete",)
    return ()


def create(conn: Any, inviter: dict[str, Any], email: str, role: str, days: int,
           delivery: str = "shown") -> tuple[str, str]:
    """A new invitation; returns (its id, the token, which is not stored). The caller commits.

    ``delivery`` is "mailed" only when the link goes to the invited address and nobody else.
    """
    if role not in roles_invitable_by(inviter):
        raise PermissionError(f"a {inviter['role']} cannot invite a {role}")
    if delivery not in DELIVERIES:
        raise ValueError(f"delivery must be one of {', '.join(DELIVERIES)}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = query_one(conn, """
        INSERT INTO invitations (token_sha256, email, role, invited_by, expires_at, delivery)
        VALUES (%s, %s, %s, %s, now() + make_interval(days => %s), %s)
        RETURNING id::text AS id""",
        (token_digest(token), normalise_email(email), role, inviter["id"], days, delivery))
    return row["id"], token


def usable(conn: Any, token: str, lock: bool = False) -> dict[str, Any] | None:
    """The invitation for ``token`` if it is neither used, revoked nor expired."""
    if not token:
        return None
    return query_one(conn, """
        SELECT i.id::text AS id, i.email, i.role, i.invited_by::text AS invited_by,
               i.delivery, u.role AS inviter_role
          FROM invitations i JOIN users u ON u.id = i.invited_by
         WHERE i.token_sha256 = %s AND i.used_at IS NULL AND i.revoked_at IS NULL
           AND i.expires_at > now()""" + (" FOR UPDATE OF i" if lock else ""),
        (token_digest(token),))


def may_claim(invitation: dict[str, Any]) -> bool:
    """Whether this invitation may give a password to an existing account that has none: only
    when the link went to the invited address alone, or an admin made it. A link a trainer saw
    proves nothing about who opens it."""
    return invitation["delivery"] == "mailed" or invitation["inviter_role"] == "admin"


def is_roster_request(invitation: dict[str, Any]) -> bool:
    """A trainer's invitation of an athlete: for an existing account it stays open as a request
    to join the trainer's roster, which the athlete or an admin answers."""
    return invitation["inviter_role"] == "trainer" and invitation["role"] == "athlete"


def close(conn: Any, invitation: dict[str, Any], user_id: str) -> None:
    execute(conn, "UPDATE invitations SET used_at = now(), used_by = %s WHERE id = %s",
            (user_id, invitation["id"]))


def mark_used(conn: Any, invitation: dict[str, Any], user_id: str, role: str) -> None:
    """Close the invitation that made the new account ``user_id``; a new athlete invited by a
    trainer joins that trainer's roster (signing up through that invitation is their consent).
    Never for an existing account: see ``answer_request``."""
    close(conn, invitation, user_id)
    if role == "athlete" and invitation["inviter_role"] == "trainer":
        execute(conn, """
            INSERT INTO trainer_athletes (trainer_id, athlete_id, assigned_by)
            VALUES (%s, %s, %s) ON CONFLICT DO NOTHING""",
            (invitation["invited_by"], user_id, invitation["invited_by"]))


def listed_for(conn: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    """Invitations this user may see: an admin all of them, a trainer their own."""
    where, params = ("TRUE", ()) if user["role"] == "admin" else ("i.invited_by = %s",
                                                                  (user["id"],))
    return query(conn, f"""
        SELECT i.id::text AS id, i.email, i.role, i.created_at, i.expires_at, i.used_at,
               i.revoked_at, u.email AS invited_by_email,
               CASE WHEN i.used_at IS NOT NULL THEN 'used'
                    WHEN i.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN i.expires_at <= now() THEN 'expired' ELSE 'open' END AS state
          FROM invitations i JOIN users u ON u.id = i.invited_by
         WHERE {where} ORDER BY i.created_at DESC LIMIT 200""", params)


def revoke(conn: Any, user: dict[str, Any], invitation_id: str) -> bool:
    """Revoke an open invitation the user may see; False if there is none such."""
    where, params = ("", ()) if user["role"] == "admin" else (" AND invited_by = %s",
                                                              (user["id"],))
    return execute(conn, "UPDATE invitations SET revoked_at = now() WHERE id = %s "
                         "AND used_at IS NULL AND revoked_at IS NULL" + where,
                   (invitation_id, *params)) == 1


def pending_requests(conn: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    """Roster requests ``user`` may answer: an athlete those to their own address, an admin all
    of them, anyone else none."""
    if user["role"] == "admin":
        return query(conn, _PENDING_REQUESTS + " ORDER BY i.created_at")
    if user["role"] == "athlete":
        return query(conn, _PENDING_REQUESTS + " AND a.id = %s ORDER BY i.created_at",
                     (user["id"],))
    return []


def answer_request(conn: Any, user: dict[str, Any], invitation_id: str, accept: bool) -> bool:
    """Accept (the athlete joins the trainer's roster) or decline (the invitation is revoked) a
    roster request ``user`` may answer; False if there is none such. The caller commits."""
    if user["role"] not in ("admin", "athlete"):
        return False
    where, params = ("", ()) if user["role"] == "admin" else (" AND a.id = %s", (user["id"],))
    request = query_one(conn, _PENDING_REQUESTS + " AND i.id = %s" + where + " FOR UPDATE OF i",
                        (invitation_id, *params))
    if request is None:
        return False
    if not accept:
        execute(conn, "UPDATE invitations SET revoked_at = now() WHERE id = %s",
                (request["id"],))
        return True
    execute(conn, "UPDATE invitations SET used_at = now(), used_by = %s WHERE id = %s",
            (request["athlete_id"], request["id"]))
    execute(conn, """
        INSERT INTO trainer_athletes (trainer_id, athlete_id, assigned_by)
        VALUES (%s, %s, %s) ON CONFLICT DO NOTHING""",
            (request["trainer_id"], request["athlete_id"], user["id"]))
    return True
