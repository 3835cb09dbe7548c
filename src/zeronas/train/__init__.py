"""Training: brief training of candidates (DAS's fast-training strategy) and full training of found networks."""

from .fast import fast_train
from .trainer import RECIPES, Recipe, recipe_for, train

__all__ = ["fast_train", "train", "Recipe", "RECIPES", "recipe_for"]
