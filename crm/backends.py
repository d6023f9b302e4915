"""Sign-in by username or email (SPEC §2: "email is accepted in `username` too")."""

from django.contrib.auth.backends import ModelBackend

from crm.models import User


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or password is None:
            return None
        user = User.objects.filter(username__iexact=username).first()
        if user is None and "@" in username:
            matches = list(User.objects.filter(email__iexact=username)[:2])
            # An email shared by two accounts names nobody.
            user = matches[0] if len(matches) == 1 else None
        if user is None:
            User().set_password(password)  # same work as a real check, so timing does not reveal usernames
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
