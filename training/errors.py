"""Base of the headless training package's errors (``training`` imports nothing of the app).

``reason`` is a sentence for the user of ``rop-train`` (or the app that shows it); the specific
errors (bundles, weights, models, metrics, explanations) subclass :class:`TrainingError`.
"""

from __future__ import annotations


class TrainingError(ValueError):
    """Something in training, evaluation or a bundle was refused; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
