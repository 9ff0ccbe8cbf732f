"""Sign-up invitations: a random token whose SHA-256 is stored; the link is shown once.

An admin may invite any role; a trainer invites athletes only, and an athlete who signs up
through a trainer's invitation is assigned to that trainer.
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Any

from coach.accounts import normalise_email
from coach.db import execute, query, query_one

TOKEN_BYTES = 24


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def roles_invitable_by(user: dict[str, Any]) -> tuple[str, ...]:
    if user["role"] == "admin":
        return ("athlete", "trainer", "admin")
    if user["role"] == "trainer":
        return ("athlete",)
    return ()


def create(conn: Any, inviter: dict[str, Any], email: str, role: str, days: int) -> str:
    """A new invitation; returns the token (not stored). The caller commits."""
    if role not in roles_invitable_by(inviter):
        raise PermissionError(f"a {inviter['role']} cannot invite a {role}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    execute(conn, """
        INSERT INTO invitations (token_sha256, email, role, invited_by, expires_at)
        VALUES (%s, %s, %s, %s, now() + make_interval(days => %s))""",
        (token_digest(token), normalise_email(email), role, inviter["id"], days))
    return token


def usable(conn: Any, token: str, lock: bool = False) -> dict[str, Any] | None:
    """The invitation for ``token`` if it is neither used, revoked nor expired."""
    if not token:
        return None
    return query_one(conn, """
        SELECT i.id::text AS id, i.email, i.role, i.invited_by::text AS invited_by,
               u.role AS inviter_role
          FROM invitations i JOIN users u ON u.id = i.invited_by
         WHERE i.token_sha256 = %s AND i.used_at IS NULL AND i.revoked_at IS NULL
           AND i.expires_at > now()""" + (" FOR UPDATE OF i" if lock else ""),
        (token_digest(token),))


def mark_used(conn: Any, invitation: dict[str, Any], user_id: str, role: str) -> None:
    """Close the invitation; an athlete invited by a trainer joins that trainer's roster."""
    execute(conn, "UPDATE invitations SET used_at = now(), used_by = %s WHERE id = %s",
            (user_id, invitation["id"]))
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
