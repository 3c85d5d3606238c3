"""The ACT outer loop shared by every core: a carry across segments, slot refill, Q-learned halting.

One ``forward(carry, batch)`` is one *segment* for every slot of the batch (deep supervision: the
caller computes the loss and takes an optimizer step after each). As in the reference:
- slots that halted at the previous segment restart from the initial states with the example that
  ``batch`` holds in that slot; the other slots go on with their current example;
- training halts a slot when its Q values say so, never before a randomly drawn minimum step (with
  probability ``halt_exploration_prob``), and always at ``halt_max_steps``. The core says which rule:
  with a Q-continue head (HRM) halt when q_halt > q_continue, and learn q_continue from one more
  (no-grad) segment from the new state: sigmoid(q_halt_next if last step else max(q_halt_next,
  q_continue_next)); without one (TRM) halt when q_halt > 0, with no target and no extra segment;
- evaluation never halts early: :meth:`ACTModel.rollout` runs every slot for a given number of segments
  (any number: past ``halt_max_steps`` a slot goes on thinking from its state instead of restarting).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from hrmkit.models.configs import ModelConfig


@dataclass
class ACTCarry:
    state: tuple[torch.Tensor, ...]  # the core's recurrent state (z_H, z_L for HRM)
    steps: torch.Tensor  # int32 [B]: segments run on the current example
    halted: torch.Tensor  # bool [B]
    data: dict[str, torch.Tensor]  # the example each slot works on

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"state.{i}": s for i, s in enumerate(self.state)}
        out.update({"steps": self.steps, "halted": self.halted})
        out.update({f"data.{k}": v for k, v in self.data.items()})
        return out

    @staticmethod
    def from_tensors(tensors: dict[str, torch.Tensor]) -> ACTCarry:
        n_state = sum(1 for k in tensors if k.startswith("state."))
        return ACTCarry(
            state=tuple(tensors[f"state.{i}"] for i in range(n_state)),
            steps=tensors["steps"], halted=tensors["halted"],
            data={k.removeprefix("data."): v for k, v in tensors.items() if k.startswith("data.")},
        )


class ACTModel(nn.Module):
    def __init__(self, core: nn.Module, config: ModelConfig):
        super().__init__()
        self.core = core
        self.config = config

    @property
    def halt_max_steps(self) -> int:
        """The segment at which training always halts (read-only: the config's value)."""
        return self.config.halt_max_steps

    def initial_carry(self, batch: dict[str, torch.Tensor]) -> ACTCarry:
        B = batch["inputs"].shape[0]
        device = batch["inputs"].device
        return ACTCarry(
            state=self.core.empty_state(B, device),
            steps=torch.zeros(B, dtype=torch.int32, device=device),
            halted=torch.ones(B, dtype=torch.bool, device=device),  # everything resets on the first call
            data={k: torch.empty_like(v) for k, v in batch.items()},
        )

    @property
    def halt_rule(self) -> str:
        """The rule training halts by, in words (the step limit aside)."""
        return "q_halt > q_continue" if self.core.has_q_continue else "q_halt > 0"

    def wants_halt(self, q_halt: torch.Tensor, q_continue: torch.Tensor) -> torch.Tensor:
        """The Q heads' own halting decision (training applies it, evaluation runs every segment);
        one place, so that what a trace reports is what training does."""
        return (q_halt > q_continue) if self.core.has_q_continue else (q_halt > 0)

    @torch.no_grad()
    def rollout(self, batch: dict[str, torch.Tensor], segments: int) -> Iterator[tuple[ACTCarry, dict[str, torch.Tensor]]]:
        """Evaluation: run ``segments`` segments from a fresh carry, in eval mode, with no early halt and no restart;
        yields (carry, outputs) after each. Every slot halts at the last segment, so the final carry scores as
        training's does. Evaluation, `hrm solve` and ARC's voting all run through here."""
        was_training = self.training
        self.eval()
        try:
            carry = self.initial_carry(batch)
            for _ in range(segments):
                carry, outputs = self(carry, batch, limit=segments)
                yield carry, outputs
        finally:
            self.train(was_training)

    def forward(self, carry: ACTCarry, batch: dict[str, torch.Tensor], limit: int | None = None) -> tuple[ACTCarry, dict[str, torch.Tensor]]:
        """One segment. ``limit``: the segment at which every slot halts (default ``halt_max_steps``; see :meth:`rollout`)."""
        limit = self.config.halt_max_steps if limit is None else limit
        halted = carry.halted
        state = self.core.reset_state(carry.state, halted)
        steps = torch.where(halted, torch.zeros_like(carry.steps), carry.steps)
        data = {k: torch.where(halted.view(-1, *([1] * (v.ndim - 1))), batch[k], v) for k, v in carry.data.items()}

        x = self.core.embed(data["inputs"], data["puzzle_identifiers"])
        state, logits, q_halt, q_continue = self.core(state, x)
        outputs = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_continue}

        with torch.no_grad():
            steps = steps + 1
            is_last = steps >= limit
            halted = is_last
            if self.training and limit > 1:
                halted = halted | self.wants_halt(q_halt, q_continue)
                # Exploration: some slots must run at least a random number of segments.
                explore = torch.rand_like(q_halt) < self.config.halt_exploration_prob
                min_halt = explore * torch.randint_like(steps, low=2, high=limit + 1)
                halted = halted & (steps >= min_halt)
                if self.core.has_q_continue:
                    # Q-continue target: bootstrap from one more segment (no replay buffer, no target net).
                    _, _, next_halt, next_continue = self.core(state, x.detach())
                    outputs["target_q_continue"] = torch.sigmoid(
                        torch.where(is_last, next_halt, torch.maximum(next_halt, next_continue)))
        return ACTCarry(state=state, steps=steps, halted=halted, data=data), outputs
