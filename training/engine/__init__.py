"""The training engine: ``fit`` — a generator of typed events — and what drives it.

>>> from training.config import recipe
>>> from training.engine import RunControl, fit
>>> control = RunControl()
>>> for event in fit(recipe("fast_binary"), "my-snapshot", "runs/1", control=control):
...     print(event.kind)

Modules: :mod:`.loop` (the loop: time budget, divergence recovery), :mod:`.schedule` (learning
rate: warm-up, plateau or cosine), :mod:`.tasks` (losses and metrics per task), :mod:`.setup`
(splits, datasets, loaders, model), :mod:`.checkpoint`, :mod:`.finish` (thresholds, test report,
bundle), :mod:`.control` (cancel / pause).
"""

from __future__ import annotations

from training.engine.checkpoint import CHECKPOINT_DIR, LAST, CheckpointError, find_checkpoint, load_checkpoint
from training.engine.control import RunControl
from training.engine.finish import BUNDLE_DIR, REPORT_DIR
from training.engine.loop import EVENTS_FILE, Terminal, fit
from training.engine.setup import RunError
from training.engine.tasks import ConfigError, check_config

__all__ = [
    "BUNDLE_DIR",
    "CHECKPOINT_DIR",
    "EVENTS_FILE",
    "LAST",
    "REPORT_DIR",
    "CheckpointError",
    "ConfigError",
    "RunControl",
    "RunError",
    "Terminal",
    "check_config",
    "find_checkpoint",
    "fit",
    "load_checkpoint",
]
