"""Training: brief training of candidates (DAS's fast-training strategy) and full training of found networks."""

from .fast import fast_train
from .trainer import RECIPES, Recipe, recipe_for, train

__all__ = ["fast_train", "train", "Recipe", "RECIPES", "recipe_for"]

from ..validation import callable_module  # noqa: E402

callable_module(__name__, train)  # zeronas.train(...) trains; zeronas.train.fast_train etc. stay reachable
