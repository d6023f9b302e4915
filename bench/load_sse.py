"""SSE side of `bench/load_run.py`: hold N streams open and time webhook → `lead_created` delivery.

Subscribers speak raw HTTP/1.1 over asyncio streams (cheap enough for thousands in one process): a fifth use a
supervisor token (the tenant channel: every event), the rest the managers' tokens. Twice a second a probe posts a
site-webhook lead; its `lead_created` must reach every supervisor stream exactly once. Latency is arrival minus the
moment the webhook's response arrived (negative when the event, sent on commit, beats the HTTP response).
"""

import argparse
import asyncio
import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import httpx

SUPERVISOR_SHARE = 0.2
PROBES_PER_SECOND = 2
GRACE_SECONDS = 10


class Streams:
    def __init__(self):
        self.connected = 0
        self.dropped = 0
        self.arrivals: dict[int, list[float]] = defaultdict(list)  # probe-able lead id -> supervisor arrival times
        self.closing = False


async def _read_chunk(reader) -> bytes:
    size_line = await reader.readline()
    if not size_line:
        raise ConnectionError("stream closed")
    size = int(size_line.split(b";")[0].strip() or b"0", 16)
    if size == 0:
        raise ConnectionError("stream ended")
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def subscribe(host: str, port: int, token: str, supervisor: bool, streams: Streams, ready: asyncio.Event):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/events/stream HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise ConnectionError(f"stream refused: {status!r}")
    chunked = False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        chunked |= line.lower().startswith(b"transfer-encoding: chunked")
    buffer = b""
    connected = False
    try:
        while True:
            buffer += await _read_chunk(reader) if chunked else await reader.read(65536)
            *lines, buffer = buffer.split(b"\n")
            now = time.monotonic()
            for line in lines:
                if not line.startswith(b"data: "):
                    continue
                message = json.loads(line[6:])
                if message["event"] == "connected" and not connected:
                    connected = True
                    streams.connected += 1
                    ready.set()
                elif message["event"] == "lead_created" and supervisor:
                    streams.arrivals[message["data"]["lead_id"]].append(now)
    except (ConnectionError, asyncio.IncompleteReadError):
        if not streams.closing:
            streams.dropped += 1
    finally:
        writer.close()


async def probe(client: httpx.AsyncClient, webhook_key: str, number: int, sent: dict, errors: list) -> None:
    response = await client.post(
        f"/api/webhooks/site/{webhook_key}",
        json={"name": f"Проба {number}", "phone": f"+7927{os.getpid() % 1000:03d}{number:04d}"},
    )
    if response.status_code != 201:
        errors.append(response.status_code)
        return
    sent[response.json()["lead_id"]] = time.monotonic()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def run(args) -> dict:
    plan = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
    parts = urlsplit(args.base_url)
    streams = Streams()
    supervisors = int(args.subscribers * SUPERVISOR_SHARE)
    tasks = []
    started = time.monotonic()
    for n in range(args.subscribers):
        supervisor = n < supervisors
        token = (
            plan["supervisors"][n % len(plan["supervisors"])]
            if supervisor
            else (plan["managers"][n % len(plan["managers"])]["token"])
        )
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(subscribe(parts.hostname, parts.port, token, supervisor, streams, ready)))
        if n % 50 == 49:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 120
    while streams.connected + streams.dropped < args.subscribers and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    connect_seconds = time.monotonic() - started
    Path(args.ready).write_text(str(streams.connected))

    sent: dict[int, float] = {}
    errors: list[int] = []
    async with httpx.AsyncClient(base_url=args.base_url, timeout=30) as client:
        probes = []
        end = time.monotonic() + args.duration
        number = 0
        while time.monotonic() < end:
            number += 1
            probes.append(asyncio.create_task(probe(client, plan["webhook_key"], number, sent, errors)))
            await asyncio.sleep(1 / PROBES_PER_SECOND)
        await asyncio.gather(*probes)
    await asyncio.sleep(GRACE_SECONDS)
    streams.closing = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies, lost, duplicated = [], 0, 0
    for lead_id, answered in sent.items():
        arrivals = streams.arrivals.get(lead_id, [])
        latencies += [(arrived - answered) * 1000 for arrived in arrivals]
        lost += max(0, supervisors - len(arrivals))
        duplicated += max(0, len(arrivals) - supervisors)
    return {
        "connected": streams.connected,
        "connect_seconds": connect_seconds,
        "supervisor_streams": supervisors,
        "probes": len(sent),
        "probe_errors": len(errors),
        "deliveries": len(latencies),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "lost": lost,
        "duplicated": duplicated,
        "dropped": streams.dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ready", required=True)
    args = parser.parse_args()
    Path(args.out).write_text(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
