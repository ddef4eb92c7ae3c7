"""A reference classifier: multinomial logistic regression on pixels.

Its confidence in the true class is a difficulty measure that owes nothing to the grown
network, for correlating model time with difficulty when no human reaction times exist.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fit_logistic_regression(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    l2: float = 1e-3,
    iterations: int = 100,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (classes, pixels) and bias minimising cross-entropy + l2 * |W|^2 (full-batch
    L-BFGS in ``dtype``: float32 is about 3.5x faster than float64 and moves a true-class
    probability by at most about 0.01; tests/test_record.py)."""
    features = images.reshape(len(images), -1).to(dtype)
    weight = torch.zeros(classes, features.shape[1], dtype=dtype, requires_grad=True)
    bias = torch.zeros(classes, dtype=dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=iterations, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(features @ weight.T + bias, labels) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach().float(), bias.detach().float()


@torch.no_grad()
def true_class_probability(
    weight: torch.Tensor, bias: torch.Tensor, images: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """The classifier's probability of each image's true class, (n,)."""
    logits = images.reshape(len(images), -1).float() @ weight.T + bias
    return logits.softmax(dim=1).gather(1, labels[:, None]).squeeze(1)
