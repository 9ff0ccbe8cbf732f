"""User accounts: the seed ``users`` row plus its ``credentials`` row (0005), password hashing
with Werkzeug's scrypt, and the checks shared by the sign-up form and `liftguard web
create-user`."""
from __future__ import annotations

import re
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from coach.db import execute, query_one
from sync.roster import ROLES

PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256
MAX_NAME_CHARS = 100  # users.first_name / last_name are VARCHAR(100)
MAX_EMAIL_CHARS = 255  # users.email is VARCHAR(255)

# Compared against when the email is unknown, so that an unknown account costs the same scrypt
# work as a wrong password and timing does not tell them apart.
_DUMMY_HASH = generate_password_hash("not-a-password-of-anyone", method=PASSWORD_METHOD)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

USER_COLUMNS = "u.id::text AS id, u.email, u.first_name, u.last_name, u.role"


class AccountError(ValueError):
    """An account field is invalid; the message says which and why."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_account_fields(email: str, first_name: str, last_name: str, role: str,
                         password: str) -> list[str]:
    """Problems with these fields, one sentence each (empty when all is well)."""
    problems = check_email(email)
    for label, value in (("first name", first_name), ("last name", last_name)):
        if not value.strip() or len(value) > MAX_NAME_CHARS:
            problems.append(f"{label} must be 1 to {MAX_NAME_CHARS} characters")
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}")
    problems += check_password(password)
    return problems


def check_email(email: str) -> list[str]:
    if not _EMAIL.match(email.strip()) or len(email) > MAX_EMAIL_CHARS:
        return [f"email must look like name@example.org (at most {MAX_EMAIL_CHARS} characters)"]
    return []


def check_password(password: str) -> list[str]:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        return [f"password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"]
    if "\x00" in password:
        return ["password must not contain NUL characters"]
    return []


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def find_by_email(conn: Any, email: str) -> dict[str, Any] | None:
    """The user with this email (case-insensitive), with its credential columns when it has any."""
    return query_one(conn, f"""
        SELECT {USER_COLUMNS}, c.password_hash, c.disabled_at, c.session_epoch
          FROM users u LEFT JOIN credentials c ON c.user_id = u.id
         WHERE lower(u.email) = %s
         ORDER BY u.email = %s DESC LIMIT 1""", (normalise_email(email), email.strip()))


def verify_login(conn: Any, email: str, password: str) -> dict[str, Any] | None:
    """The user if ``email``/``password`` are right and the account is enabled, else None.

    Always runs one scrypt check, whether or not the account exists.
    """
    user = find_by_email(conn, email)
    stored = user["password_hash"] if user and user["password_hash"] else _DUMMY_HASH
    ok = check_password_hash(stored, password)
    if not ok or user is None or not user["password_hash"] or user["disabled_at"] is not None:
        return None
    return user


def create_user(conn: Any, email: str, first_name: str, last_name: str, role: str,
                password: str) -> str | None:
    """Insert the user and its credentials; returns the new id, or None if the email is taken.

    The caller commits. Raises AccountError for invalid fields.
    """
    problems = check_account_fields(email, first_name, last_name, role, password)
    if problems:
        raise AccountError("; ".join(problems))
    password_hash = hash_password(password)  # before the lookup: same cost either way
    if find_by_email(conn, email) is not None:
        return None
    row = query_one(conn, """
        INSERT INTO users (first_name, last_name, email, role) VALUES (%s, %s, %s, %s)
        ON CONFLICT (email) DO NOTHING RETURNING id::text AS id""",
        (first_name.strip(), last_name.strip(), normalise_email(email), role))
    if row is None:
        return None
    execute(conn, "INSERT INTO credentials (user_id, password_hash) VALUES (%s, %s)",
            (row["id"], password_hash))
    return row["id"]


def claim_existing(conn: Any, email: str, password: str, role: str) -> tuple[str, str] | None:
    """Give an existing user who has no sign-in yet (e.g. made by the original app or a box
    roster) a password; their role stays, or becomes ``role`` when they had none.

    Only for an invitation that ``invitations.may_claim``: one whose link went to this address
    alone, or one an admin made; never for a link a trainer saw. Returns (id, role) or None
    when there is no such user or they can already sign in. The caller commits.
    """
    problems = check_password(password)
    if problems:
        raise AccountError("; ".join(problems))
    password_hash = hash_password(password)
    user = find_by_email(conn, email)
    if user is None or user["password_hash"]:
        return None
    if user["role"] is None:
        execute(conn, "UPDATE users SET role = %s, updated_at = CURRENT_TIMESTAMP WHERE id = %s",
                (role, user["id"]))
    execute(conn, "INSERT INTO credentials (user_id, password_hash) VALUES (%s, %s)",
            (user["id"], password_hash))
    return user["id"], user["role"] or role


def set_password(conn: Any, user_id: str, password: str) -> int:
    """New password; raises the session epoch, which signs out every other session of the
    user. Returns the new epoch. The caller commits."""
    problems = check_password(password)
    if problems:
        raise AccountError("; ".join(problems))
    row = query_one(conn, """
        UPDATE credentials SET password_hash = %s, session_epoch = session_epoch + 1,
               updated_at = now()
         WHERE user_id = %s RETURNING session_epoch""", (hash_password(password), user_id))
    if row is None:
        raise AccountError("this user has no sign-in account")
    return row["session_epoch"]


def users_exist(conn: Any) -> bool:
    return query_one(conn, "SELECT EXISTS (SELECT 1 FROM users) AS any")["any"]
