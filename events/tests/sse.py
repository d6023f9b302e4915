"""Test helpers: parse `text/event-stream` frames and read streams in the background."""

import asyncio
import contextlib
import json
import queue
import socket
import threading
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Frame:
    """One SSE event as a client sees it (comment lines dropped)."""

    event: str
    data: str
    id: str | None
    raw: str

    @property
    def json(self) -> dict:
        return json.loads(self.data)

    @property
    def position(self) -> int | None:
        """The number in an id `tenant-1:42` (streams here have one channel)."""
        return int(self.id.rsplit(":", 1)[1]) if self.id else None


def parse_frames(buffer: str) -> tuple[list[Frame], str]:
    """Split complete frames off `buffer`; return them and the incomplete rest."""
    frames = []
    while "\n\n" in buffer:
        raw, buffer = buffer.split("\n\n", 1)
        fields: dict[str, list[str]] = {}
        for line in raw.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        if fields:
            frames.append(
                Frame(
                    event=fields.get("event", ["message"])[0],
                    data="\n".join(fields.get("data", [])),
                    id=fields.get("id", [None])[0],
                    raw=raw + "\n\n",
                )
            )
    return frames, buffer


END = object()


class ThreadedStream:
    """An httpx streaming GET read by a thread into a queue (for a real server in a subprocess)."""

    def __init__(self, url: str, *, headers: dict | None = None, params: dict | None = None):
        self.frames: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.body = ""
        self._response: httpx.Response | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}, params or {}), daemon=True)
        self._thread.start()
        if not self._connected.wait(10):
            raise TimeoutError(f"no response from {url}")

    def _run(self, url, headers, params):
        try:
            with self._client.stream("GET", url, headers=headers, params=params) as response:
                self._response = response
                self.status = response.status_code
                self._connected.set()
                buffer = ""
                for text in response.iter_text():
                    self.body += text
                    frames, buffer = parse_frames(buffer + text)
                    for frame in frames:
                        self.frames.put(frame)
        except httpx.HTTPError:
            pass
        finally:
            self._connected.set()
            self.frames.put(END)

    def next(self, timeout: float = 5.0, *, skip_pings: bool = True) -> Frame:
        """The next frame; `END` when the server closed the stream."""
        while True:
            frame = self.frames.get(timeout=timeout)
            if not (skip_pings and frame is not END and frame.event == "ping"):
                return frame

    def take(self, count: int, timeout: float = 10.0) -> list[Frame]:
        return [self.next(timeout) for _ in range(count)]

    def close(self) -> None:
        """Disconnect like a client going away (shutting the socket down wakes the blocked reader)."""
        if self._response is not None and self._thread.is_alive():
            network_stream = self._response.extensions.get("network_stream")
            sock = network_stream.get_extra_info("socket") if network_stream else None
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed by the server
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._client.close()


class AsyncStream:
    """The body of an in-process (AsyncClient) streaming response, read by a task into a queue.

    Stopped with `close()`, which cancels the reader as Django does when a client disconnects (so the stream's
    `finally` runs); closing the iterator would not reach the generator (SSE-NOTES §5).
    """

    def __init__(self, response):
        self.response = response
        self.frames: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        buffer = ""
        try:
            async for chunk in self.response.streaming_content:
                frames, buffer = parse_frames(buffer + chunk.decode())
                for frame in frames:
                    self.frames.put_nowait(frame)
        finally:
            self.frames.put_nowait(END)

    async def next(self, timeout: float = 3.0, *, skip_pings: bool = True):
        while True:
            frame = await asyncio.wait_for(self.frames.get(), timeout)
            if not (skip_pings and frame is not END and frame.event == "ping"):
                return frame

    async def take(self, count: int, timeout: float = 3.0) -> list:
        return [await self.next(timeout) for _ in range(count)]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
