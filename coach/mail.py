"""Invitation e-mails over SMTP (stdlib ``smtplib``), configured in ``[web]`` with the password
from the ``smtp_password`` secret. With mail, an invitation link reaches only the invited
address, which is what lets it claim an existing account (``invitations.may_claim``).

Links are built on ``[web] public_url``, never on the request's Host header: an inviter who sent
a forged Host would otherwise get the invitee's token back when they click.
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from coach.settings import WebSettings


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message; the text says which."""


def invitation_message(settings: WebSettings, to: str, link: str, inviter_name: str,
                       role: str, days: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = "Your liftguard invitation"
    roster = (f"\nIf you already have a liftguard account, {inviter_name} asks to add you to "
              "their roster: sign in and accept or decline on your profile page.\n"
              if role == "athlete" else "")
    msg.set_content(
        f"{inviter_name} invited you to the liftguard coach app as {role}.\n\n"
        f"Open this link to choose your password (it works once and expires in {days} days):\n"
        f"{link}\n{roster}\n"
        "If you did not expect this e-mail, ignore it: nothing happens without the link.\n")
    return msg


def send(settings: WebSettings, msg: EmailMessage) -> None:
    """Send ``msg`` through the configured server; raises MailError."""
    context = ssl.create_default_context()
    try:
        smtp: Any
        if settings.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                    timeout=settings.smtp_timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                                timeout=settings.smtp_timeout_s)
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from None
