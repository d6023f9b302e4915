"""Load what every request needs before the first one, then take it out of the garbage collector's walks.

A full (generation 2) collection walks every tracked object. A process serving 1,000 event streams holds a large,
stable heap (modules, the URLconf, views, serializers, settings), and each full collection over it paused the fan-out
of events for 74-203 ms: the SSE tail (issue 18; BENCHMARKS.md). `gc.freeze()` moves the objects alive at start-up
into a permanent generation that collections skip; they are never garbage anyway. Under gunicorn's pre-fork model it
also keeps the collector from writing to the shared pages of the workers (copy-on-write).
"""

import gc

from django.urls import get_resolver


def warm_up_and_freeze() -> None:
    get_resolver().url_patterns  # noqa: B018 - imports every view, serializer and filterset the URLconf names
    gc.collect()  # what start-up left as garbage goes now, not into the permanent generation
    gc.freeze()
