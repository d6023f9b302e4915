"""The API's JSON renderer (crm.api.renderers): orjson's speed, DRF's output, byte for byte."""

import datetime
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy
from rest_framework.settings import api_settings

from crm.api.renderers import JSONRenderer

MOSCOW = ZoneInfo("Europe/Moscow")


def test_the_default_renderer_of_every_api_view():
    assert [JSONRenderer] == api_settings.DEFAULT_RENDERER_CLASSES


def test_values_orjson_leaves_to_drf_are_written_as_drf_writes_them():
    body = {
        "utc": datetime.datetime(2026, 12, 6, 10, 30, tzinfo=datetime.UTC),
        "moscow": datetime.datetime(2026, 12, 6, 13, 30, 0, 250000, tzinfo=MOSCOW),
        "day": datetime.date(2026, 12, 6),
        "amount": Decimal("1500.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "message": gettext_lazy("a lazy string"),
        "name": "Ольга",
        7: "a key that is a number",
    }
    assert (
        JSONRenderer().render(body, "application/json")
        == (
            '{"utc":"2026-12-06T10:30:00Z","moscow":"2026-12-06T13:30:00.250000+03:00","day":"2026-12-06",'
            '"amount":1500.5,"id":"12345678-1234-5678-1234-567812345678","message":"a lazy string",'
            '"name":"Ольга","7":"a key that is a number"}'
        ).encode()
    )


def test_no_body_and_a_pretty_printed_one():
    assert JSONRenderer().render(None) == b""
    assert JSONRenderer().render({"a": [1]}, "application/json; indent=2") == b'{\n  "a": [\n    1\n  ]\n}'
