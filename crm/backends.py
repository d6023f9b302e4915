"""Sign-in by username or email (SPEC §2: "email is accepted in `username` too"; §15: only a unique active email)."""

from django.contrib.auth.backends import ModelBackend

from crm.models import User


def user_for_login(login: str) -> User | None:
    """The account a login string names: a username (any case), else the one active user with that email."""
    user = User.objects.filter(username__iexact=login).first()
    if user is None and "@" in login:
        matches = list(User.objects.filter(email__iexact=login, is_active=True)[:2])
        # An email shared by two accounts (possible only in rows older than the unique index) names nobody.
        user = matches[0] if len(matches) == 1 else None
    return user


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or password is None:
            return None
        user = user_for_login(username)
        if user is None:
            User().set_password(password)  # same work as a real check, so timing does not reveal usernames
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
