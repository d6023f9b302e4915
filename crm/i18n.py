"""Languages: the back-office speaks Russian, or English when the browser asks; everything else speaks English.

The API's contract (its messages, DRF's and Django's validation texts inside them) is English and must not change
with `Accept-Language`; webhooks, health checks and the docs belong to it. The back-office (`/admin/`) follows the
browser through Django's LocaleMiddleware, falling back to LANGUAGE_CODE ("ru").

Our back-office strings are written in Russian in the code (the team's and the users' language) and marked for
translation; `locale/en` holds their English, `locale/ru` lists them untranslated (the source is Russian). The
compiled `.mo` files are committed, so a checkout without gettext runs as is; `crm/tests/test_i18n.py` compiles each
`.po` with GNU msgfmt (CI installs gettext) and fails when a committed `.mo` differs.
"""

from django.middleware.locale import LocaleMiddleware
from django.utils import translation

BACKOFFICE_PREFIX = "/admin/"
API_LANGUAGE = "en"
SOURCE_LANGUAGE = "ru"  # the language of the msgids of our back-office strings
STORED_LANGUAGE = "ru"  # texts kept in the database (lead history) are read in every language as written


class LanguageMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if request.path_info.startswith(BACKOFFICE_PREFIX):
            return super().process_request(request)
        translation.activate(API_LANGUAGE)
        request.LANGUAGE_CODE = API_LANGUAGE
        return None


def stored(text) -> str:
    """A translatable text (a choice label) as a stored history line quotes it: Russian, whatever is active.

    Pass the lazy label (`TaskType(task.type).label`): `get_type_display()` has already rendered it in the active one.
    """
    with translation.override(STORED_LANGUAGE):
        return str(text)
