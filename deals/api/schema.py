"""OpenAPI pieces of the Deals API: the UUID related-field extension and the helpers the views document with."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from crm.api.versioning import ETAG_PARAMETER, IF_MATCH_PARAMETER
from deals.api.serializers import V1ErrorSerializer
from deals.models import transitions_markdown


class UUIDRelatedFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "deals.api.fields.UUIDRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.UUID)


PAGE_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1..200, default 25."),
    OpenApiParameter("offset", OpenApiTypes.INT, description="0 or more."),
]

# Every PATCH of a versioned object (SPEC §11): If-Match in, ETag out, and the two stale-version answers.
VERSIONED_PATCH_PARAMETERS = [IF_MATCH_PARAMETER, ETAG_PARAMETER]
STALE = ("409 conflict", "412 precondition_failed")


def errors(*codes: str) -> dict:
    """OpenAPI responses for the envelope: `errors("400 validation_error", "404 deal_not_found")`."""
    by_status: dict[int, list[str]] = {}
    for item in codes:
        http_status, code = item.split(" ", 1)
        by_status.setdefault(int(http_status), []).append(f"`{code}`")
    return {
        http_status: OpenApiResponse(V1ErrorSerializer, description=", ".join(names))
        for http_status, names in by_status.items()
    }


def transitions_doc(name: str, table, http_status: int) -> str:
    return (
        f"Allowed {name} status transitions (anything else → {http_status} `invalid_status_transition`; "
        f"setting the current status is a no-op 200):\n\n{transitions_markdown(table)}"
    )
