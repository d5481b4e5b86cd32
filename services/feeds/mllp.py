"""The MLLP listener: HL7 v2 messages in over TCP, one ACK back for each, in order.

Why python-hl7's `hl7.mllp`: its asyncio server already frames and unframes MLLP blocks
(0x0B message 0x1C 0x0D), so this module only decides what happens between a block and its
answer. The block is passed on as bytes, not as the library's parsed message, because a
message that does not parse still deserves a NAK the sender can match (services.feeds.
hl7_ack.ack salvages its MSH); `handle` gets the bytes and returns the ACK.

One message at a time per connection: MLLP senders wait for the ACK before sending the
next, so order is kept without a queue. What `handle` does with the records (the next
step: staff, triggers, the stream) is not this module's concern.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

import hl7
from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server

from services.feeds import hl7_ack, hl7v2
from services.feeds.record import Problem
from services.logs import log

Answer = bytes | str | hl7.Message
Handle = Callable[[bytes], Answer | Awaitable[Answer]]

# A block larger than this is answered with a NAK; ADT messages are a few KiB, and the
# library's default (64 KiB) is too small for one carrying long OBX/NTE groups.
DEFAULT_LIMIT = 1 << 20
# The stream's buffer: a block the library gives up on (it drops what it has read, and the
# rest of the block would then read as a block of its own) ends the connection instead, so
# ACKs cannot fall out of step with the messages they answer.
BUFFER_LIMIT = 16 << 20


class MllpListener:
    """An MLLP server on host:port (0: any free port) that answers each block with handle's
    ACK. A failure inside `handle` (the stream unreachable) closes the connection without an
    ACK, so the sender resends the message later as MLLP senders do: an AE would tell it the
    message itself was at fault, and a death message would be dropped for an outage."""

    def __init__(
        self,
        handle: Handle,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limit: int = DEFAULT_LIMIT,
        encoding: str = "utf-8",
    ) -> None:
        self.handle = handle
        self.host, self.port, self.limit, self.encoding = host, port, limit, encoding
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._answering = 0  # blocks read and not yet answered on the wire

    async def start(self) -> tuple[str, int]:
        """Listen; returns the address really bound (the port chosen when port was 0)."""
        self._server = await start_hl7_server(
            self._client,
            self.host,
            self.port,
            limit=max(self.limit, BUFFER_LIMIT),
            encoding=self.encoding,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = port
        log().info("mllp.listening", host=host, port=port)
        return host, port

    def answering(self) -> bool:
        """Whether a block is between being read and its answer being written: a stop that
        closed the connections then would leave a message taken but never acknowledged."""
        return self._answering > 0

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> MllpListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _client(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._clients.add(task)
        task.add_done_callback(self._clients.discard)

    async def _serve(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        try:
            while True:
                try:
                    block: bytes | None = await reader.readblock()
                except asyncio.IncompleteReadError:
                    return  # the sender hung up, or left a partial block behind
                except InvalidBlockError:
                    block = None
                except ValueError:  # over the buffer: no telling where the next block starts
                    log().warning("mllp.block_over_buffer", limit=BUFFER_LIMIT)
                    return
                self._answering += 1
                answer: Answer | None
                try:
                    if block is None:
                        answer = self._nak(b"", "bytes before the MLLP start 0x0B")
                    else:
                        answer = await self._answer(block)
                    if answer is None:
                        return
                    writer.writeblock(self._bytes(answer))
                    await writer.drain()
                finally:
                    self._answering -= 1
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _answer(self, block: bytes) -> Answer | None:
        """handle's ACK for one block; None (hang up, no ACK) when handle failed."""
        if len(block) > self.limit:
            return self._nak(block, f"MLLP block longer than {self.limit} bytes")
        try:
            answer = self.handle(block)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:  # the exception's text may quote the message: its type only
            log().error("mllp.handle_failed", error=type(exc).__name__)
            return None
        return answer

    def _nak(self, block: bytes, why: str) -> hl7.Message:
        problem = hl7v2.Hl7Problem.at("MSH", None, why, hl7v2.ErrorCode.segment_sequence)
        problems: list[Problem] = [problem]
        return hl7_ack.ack(block, hl7v2.AckCode.reject, problems, encoding=self.encoding)

    def _bytes(self, answer: Answer) -> bytes:
        if isinstance(answer, bytes):
            return answer
        return str(answer).encode(self.encoding, "replace")
