"""What reached delivery of the lead events: the recorder behind the `events` fixture of the root conftest."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Emitted:
    event_type: str
    tenant_id: int
    lead_id: int
    assignee_ids: frozenset


@dataclass
class EventRecorder:
    """`with events.capture(): ...` around the code under test; then `events.sent` lists what reached delivery."""

    capture_on_commit: object
    sent: list[Emitted] = field(default_factory=list)

    def deliver(self, pks=(), **kwargs) -> None:  # pks: the stored rows being published
        self.sent.append(Emitted(**kwargs))

    def capture(self):
        return self.capture_on_commit(execute=True)
