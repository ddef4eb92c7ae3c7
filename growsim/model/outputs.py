"""What the network returns: the per-step readouts and time distribution of a forward pass
(``NetworkOutput``), and the prediction of an inference pass with early exit
(``Prediction``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from growsim.model.costs import expected_steps


@dataclass
class NetworkOutput:
    """Per-step readouts and the time distribution over steps."""

    logits: torch.Tensor  # (batch, step, class)
    log_step_probs: torch.Tensor  # (batch, step), log p_t; exp sums to 1 over steps

    @property
    def step_probs(self) -> torch.Tensor:
        """p_t, (batch, step)."""
        return self.log_step_probs.exp()

    def class_probs(self) -> torch.Tensor:
        """The prediction: readout probabilities mixed by p_t, (batch, class)."""
        return torch.einsum("bt,btk->bk", self.step_probs, self.logits.softmax(dim=-1))


@dataclass
class Prediction:
    """Inference output of ``LatticeNetwork.predict`` (with early exit)."""

    class_probs: torch.Tensor  # (batch, class)
    step_probs: torch.Tensor  # (batch, step): p_t, an exited input's rest folded into its last step
    steps_computed: torch.Tensor  # (batch,) int: steps actually run per input

    @property
    def expected_steps(self) -> torch.Tensor:
        """sum_t t p_t per input, (batch,)."""
        return expected_steps(self.step_probs)
