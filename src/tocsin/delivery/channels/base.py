"""One interface for every way out; one module per kind of gateway (registry below)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tocsin.delivery.outbox import Result

# (gateway message id, outcome delivered|failed|expired, detail)
ReceiptSink = Callable[[list[tuple[str, str, str]]], Awaitable[None]]
# (sender, recipient, text) of a mobile-originated message
InboundSink = Callable[[str, str, str], Awaitable[None]]


@dataclass(frozen=True)
class GatewayInfo:
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    rate_per_s: float
    concurrency: int


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    recipient: str
    language: str
    content: dict[str, str]  # text (and subject, html for e-mail) in the recipient's language
    request_id: int
    possible_duplicate: bool = False
    attempt: int = 1  # this is the delivery's n-th try


@dataclass
class Health:
    state: str = "unknown"  # ok | degraded | down
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Channel(ABC):
    kind: ClassVar[str]

    def __init__(self, gateway: GatewayInfo, *, on_receipts: ReceiptSink, on_inbound: InboundSink):
        self.gateway = gateway
        self.on_receipts = on_receipts
        self.on_inbound = on_inbound
        self.health = Health()

    @abstractmethod
    async def open(self) -> None:
        """Connect (and bind); raise ConnectionError when the gateway cannot be reached."""

    @abstractmethod
    async def send(self, batch: list[Outgoing]) -> list[Result]:
        """Hand the batch to the gateway; one Result per Outgoing, in any order."""

    @abstractmethod
    async def close(self) -> None:
        """Leave cleanly (unbind, QUIT)."""

    @property
    def batch_size(self) -> int:
        return int(self.gateway.config.get("batch", 200))


REGISTRY: dict[str, type[Channel]] = {}


def register(cls: type[Channel]) -> type[Channel]:
    REGISTRY[cls.kind] = cls
    return cls


def channel_for(gateway: GatewayInfo, *, on_receipts: ReceiptSink, on_inbound: InboundSink) -> Channel:
    # The modules register themselves on import.
    from tocsin.delivery.channels import kannel, smpp, smtp, voice  # noqa: F401

    return REGISTRY[gateway.kind](gateway, on_receipts=on_receipts, on_inbound=on_inbound)
