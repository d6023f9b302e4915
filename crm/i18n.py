"""Languages: the back-office speaks Russian, or English when the browser asks; everything else speaks English.

The API's contract (its messages, DRF's and Django's validation texts inside them) is English and must not change
with `Accept-Language`; webhooks, health checks and the docs belong to it. The back-office (`/admin/`) follows the
browser through Django's LocaleMiddleware, falling back to LANGUAGE_CODE ("ru").

Our back-office strings (labels, verbose names, choice labels, templates) are written in Russian in the code (the
team's and the users' language) and marked for translation; `locale/en` holds their English, `locale/ru` lists them
untranslated (the source is Russian). The English of a model's or a field's verbose name is Django's default for it
("lead", "assigned to"): the API quotes model names in its messages and the OpenAPI document derives titles and
descriptions from them, so the API's English texts stay what they were.

Service messages are the other way round: their msgid is the English text the API answers with (the contract, in
`message` and `details`), and `locale/ru` holds their Russian. A service raises `_("…")` under whatever language
is active: English for an API request, so the API never changes, Russian in the back-office, where the same refusal
becomes a form error. One source text per message, and the contract's text is that source; interpolated messages
use named placeholders (`_("… «%(name)s» …") % {...}`) so a translation may reorder them.

The board's script takes its words from the page (`data-text-*` on `#board`), so it speaks the page's language. The
column headers of our CSV/XLSX exports stay Russian in every language: they are a file format, the one the imports
read back (an English export's choice labels equal their values, which the imports accept too).

Texts stored in the database (a lead's history) are written in Russian whatever language is active (`stored`),
and the OpenAPI document lists choices with their source labels (crm/api/schema.py). Commands and jobs run under
LANGUAGE_CODE, so their refusals read in Russian.

`make messages` extracts both kinds into both catalogs; the compiled `.mo` files are committed, so a checkout without
gettext runs as is; `crm/tests/test_i18n.py` compiles each `.po` with GNU msgfmt (CI installs gettext) and fails
when a committed `.mo` differs, or when a Russian string lacks its English or an English message its Russian.
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
