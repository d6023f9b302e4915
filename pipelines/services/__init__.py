"""Writes of pipelines, stages and leads, shared by the API, the webhooks, the admin and the commands.

Every lead change records its history and schedules exactly one `lead_created` / `lead_updated` event through
`events.services.lead_event_emit` (sent after commit).
"""

from pipelines.services.conversion import LeadConversion, lead_convert
from pipelines.services.distribution import distribution_assignee_take
from pipelines.services.erasure import lead_erase
from pipelines.services.intake import lead_intake
from pipelines.services.leads import (
    LEAD_EDITABLE_FIELDS,
    email_normalize,
    lead_create,
    lead_history_record,
    lead_lock,
    lead_move_to_stage,
    lead_touch,
    lead_update,
    phone_normalize,
)
from pipelines.services.loss_reasons import (
    DEFAULT_LOSS_REASONS,
    LOSS_REASON_EDITABLE_FIELDS,
    loss_reason_create,
    loss_reason_update,
    loss_reasons_ensure_defaults,
)
from pipelines.services.merge import MERGE_FILLED_FIELDS, lead_merge
from pipelines.services.structure import (
    DEFAULT_PIPELINE_NAME,
    DEFAULT_STAGES,
    PIPELINE_EDITABLE_FIELDS,
    STAGE_EDITABLE_FIELDS,
    StageHasLeads,
    default_pipeline_ensure,
    pipeline_create,
    pipeline_update,
    stage_create,
    stage_delete,
    stage_update,
)

__all__ = [
    "DEFAULT_LOSS_REASONS",
    "LOSS_REASON_EDITABLE_FIELDS",
    "DEFAULT_PIPELINE_NAME",
    "DEFAULT_STAGES",
    "LEAD_EDITABLE_FIELDS",
    "LeadConversion",
    "MERGE_FILLED_FIELDS",
    "PIPELINE_EDITABLE_FIELDS",
    "STAGE_EDITABLE_FIELDS",
    "StageHasLeads",
    "default_pipeline_ensure",
    "distribution_assignee_take",
    "email_normalize",
    "lead_convert",
    "lead_create",
    "lead_erase",
    "lead_history_record",
    "lead_intake",
    "lead_lock",
    "lead_merge",
    "lead_move_to_stage",
    "lead_touch",
    "lead_update",
    "loss_reason_create",
    "loss_reason_update",
    "loss_reasons_ensure_defaults",
    "phone_normalize",
    "pipeline_create",
    "pipeline_update",
    "stage_create",
    "stage_delete",
    "stage_update",
]
