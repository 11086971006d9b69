"""What every agent shares: one entry point, `agent(record)`, timed at that boundary, and the
dead-letter guard, so whatever goes wrong with one record ends as a dead letter with the
reason, and the next record goes on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from heard.streams.base.stages import STAGES
from heard.streams.worker.sink import DeadLetters, InboundRecord


class Agent(ABC):
    stage: ClassVar[str]
    dead_letters: DeadLetters

    @abstractmethod
    async def __call__(self, record: InboundRecord) -> None:
        """Take one record; nothing it raises escapes (it becomes a dead letter)."""

    async def failed(self, record: InboundRecord, reason: str) -> None:
        """What a record that failed needs besides its dead letter: nothing, unless said."""
        return None


class RecordAgent(Agent):
    """An agent that handles each record on its own: guarded and timed here."""

    async def __call__(self, record: InboundRecord) -> None:
        with STAGES.timed(f"{self.stage}.handled"):
            await self.dead_letters.guard(self.stage, record, self.handle, self.failed)

    @abstractmethod
    async def handle(self, record: InboundRecord) -> None:
        """What the agent does with one record; anything it raises becomes a dead letter."""
