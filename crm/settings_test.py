"""Test settings: the real settings with fast password hashing and no DB pool."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdef0123456789abcdef")

from crm.settings import *  # noqa: E402,F403
from crm.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# pytest-django opens and closes test databases; a pool would keep connections to them open.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
WHITENOISE_AUTOREFRESH = True
