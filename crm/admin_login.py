"""The admin login form under the failure limits of crm.login_limits (SPEC §15)."""

import math

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.login_limits import LoginLimited, authenticate_limited
from crm.tenancy import may_enter_backoffice


class LimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login under the same failure limits as /api/auth/token (crm.login_limits)."""

    login_limited: LoginLimited | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = authenticate_limited(self.request, login=username, password=password)
            except LoginLimited as exc:
                self.login_limited = exc
                minutes = math.ceil(exc.retry_after / 60)
                raise ValidationError(
                    _("Слишком много неудачных попыток входа. Попробуйте снова через %(minutes)s мин.")
                    % {"minutes": minutes},
                    code="rate_limited",
                ) from exc
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user):
        # Django's admin form admits staff only; the site's own rule admits managers too (crm.admin_base).
        AuthenticationForm.confirm_login_allowed(self, user)
        if not may_enter_backoffice(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )
