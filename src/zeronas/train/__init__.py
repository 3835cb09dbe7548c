"""Training: brief training of candidates (DAS's fast-training strategy) and full training of found networks."""

from .fast import fast_train

__all__ = ["fast_train"]
