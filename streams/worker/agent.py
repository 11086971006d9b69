"""What every agent shares: its handler runs behind the guard, so whatever goes wrong with one
record ends as a dead letter with the reason, and the next record goes on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from heard.streams.base.stages import STAGES, now_ns
from heard.streams.worker.sink import DeadLetters, InboundRecord


class Agent(ABC):
    stage: ClassVar[str]
    dead_letters: DeadLetters

    async def __call__(self, record: InboundRecord) -> None:
        started = now_ns()
        await self.dead_letters.guard(self.stage, record, self.handle, self.failed)
        STAGES.lap(f"{self.stage}.handled", started)

    @abstractmethod
    async def handle(self, record: InboundRecord) -> None:
        """What the agent does with one record; anything it raises becomes a dead letter."""

    async def failed(self, record: InboundRecord, reason: str) -> None:
        """What a record that failed needs besides its dead letter: nothing, unless said."""
        return None
