"""WTForms forms (Flask-WTF: every POST form carries a CSRF token). Length limits follow the
seed columns, so a value that fits the form fits the table."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import (
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from coach.access import parse_uuid
from coach.accounts import (
    MAX_EMAIL_CHARS,
    MAX_NAME_CHARS,
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    ROLES,
    check_email,
    check_password,
)

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None


def choices(pairs: list[tuple[str, str]]) -> list:
    """SelectField choices from (value, label) pairs, in the form this WTForms prefers."""
    return [SelectChoice(v, label) if SelectChoice else (v, label) for v, label in pairs]


LIFT_CHOICES = choices([("", "all lifts"), ("squat", "squat"), ("bench_press", "bench press"),
                        ("deadlift", "deadlift")])
ROLE_CHOICES = choices([(r, r) for r in ROLES])
MAX_TOKEN_CHARS = 100


def _uuid(form: FlaskForm, field: HiddenField) -> None:
    if parse_uuid(field.data or "") is None:
        raise ValidationError("is not a valid id")


def _absent_or_uuid(form: FlaskForm, field: HiddenField) -> None:
    """An absent value passes; anything else, blank included, must be an id (``Optional()``
    would let " " through unchecked, to reach SQL as a uuid)."""
    if not field.raw_data or field.raw_data[0] == "":
        raise StopValidation()
    _uuid(form, field)


def _password_rules(form: FlaskForm, field: PasswordField) -> None:
    for problem in check_password(field.data or ""):
        raise ValidationError(problem)


def _email_rules(form: FlaskForm, field: EmailField) -> None:
    for problem in check_email(field.data or ""):
        raise ValidationError(problem)


def _email() -> EmailField:
    return EmailField("Email", [InputRequired(), Length(max=MAX_EMAIL_CHARS), _email_rules])


def _name(label: str) -> StringField:
    return StringField(label, [InputRequired(), Length(min=1, max=MAX_NAME_CHARS)])


def form_problems(form: FlaskForm) -> list[str]:
    """One line per refused field, for forms whose fields are not shown on the page."""
    return [f"{getattr(form, name).label.text}: {error}"
            for name, errors in form.errors.items() for error in errors]


class LoginForm(FlaskForm):
    email = _email()
    password = PasswordField("Password", [InputRequired(), Length(max=MAX_PASSWORD_CHARS)])


class SignupForm(FlaskForm):
    first_name = _name("First name")
    last_name = _name("Last name")
    email = _email()
    password = PasswordField(
        f"Password ({MIN_PASSWORD_CHARS}+ characters)", [InputRequired(), _password_rules])
    confirm = PasswordField("Password again",
                            [InputRequired(), EqualTo("password", "the passwords differ")])
    invite = HiddenField("invite", [Optional(), Length(max=MAX_TOKEN_CHARS)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password",
                            [InputRequired(), Length(max=MAX_PASSWORD_CHARS)])
    password = PasswordField(f"New password ({MIN_PASSWORD_CHARS}+ characters)",
                             [InputRequired(), _password_rules])
    confirm = PasswordField("New password again",
                            [InputRequired(), EqualTo("password", "the passwords differ")])


class InvitationForm(FlaskForm):
    email = _email()
    role = SelectField("Role", [InputRequired()], choices=ROLE_CHOICES, default="athlete")


class IdForm(FlaskForm):
    """A POST naming one row (revoke an invitation, disable a user...)."""
    id = HiddenField("id", [InputRequired(), _uuid])


class RosterRequestForm(FlaskForm):
    """Accept or decline a trainer's request to add an existing athlete to their roster."""
    id = HiddenField("request", [InputRequired(), _uuid])
    decision = SelectField("Answer", [InputRequired()],
                           choices=choices([("accept", "accept"), ("decline", "decline")]))


class AssignmentForm(FlaskForm):
    trainer_id = SelectField("Trainer", [InputRequired(), _uuid], choices=[], validate_choice=True)
    athlete_id = SelectField("Athlete", [InputRequired(), _uuid], choices=[], validate_choice=True)


class UnassignForm(FlaskForm):
    trainer_id = HiddenField("trainer", [_absent_or_uuid])
    athlete_id = HiddenField("athlete", [InputRequired(), _uuid])


class RoleForm(FlaskForm):
    id = HiddenField("id", [InputRequired(), _uuid])
    role = SelectField("Role", [InputRequired()], choices=ROLE_CHOICES)


class HistoryFilterForm(FlaskForm):
    """GET query of the session history: no CSRF (it changes nothing)."""

    class Meta:
        csrf = False

    # no Optional(): it would clear the choice check for a blank value such as " "
    lift = SelectField("Lift", choices=LIFT_CHOICES, default="")
    date_from = DateField("From", [Optional()])
    date_to = DateField("To", [Optional()])
    page = IntegerField("Page", [Optional(), NumberRange(min=1, max=100_000)], default=1)
