import factory
from django.utils import timezone

from crm.tests.factories import TenantFactory
from pipelines.models import Lead, LeadSource, Pipeline, Stage


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Pipeline {n}")
    is_default = False


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    tenant = factory.SelfAttribute("pipeline.tenant")
    name = factory.Sequence(lambda n: f"Stage {n}")
    order_index = factory.Sequence(lambda n: n)
    is_closed = False


class LeadFactory(factory.django.DjangoModelFactory):
    """A bare lead row (no history, no event); use pipelines.services.lead_create to test behaviour."""

    class Meta:
        model = Lead

    stage = factory.SubFactory(StageFactory)
    pipeline = factory.SelfAttribute("stage.pipeline")
    tenant = factory.SelfAttribute("stage.tenant")
    name = factory.Sequence(lambda n: f"Lead {n}")
    phone = factory.Sequence(lambda n: f"+7916{n:07d}")
    source = LeadSource.MANUAL
    moved_to_stage_at = factory.LazyFunction(timezone.now)
