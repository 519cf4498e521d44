"""Recipes R1–R19 (SPEC S5): routing rules over transitions and events, configured in
`supportsync.yaml` (`streams.recipes.settings`). See docs/recipes.md."""

from streams.recipes.router import RecipeRouter
from streams.recipes.settings import RecipesConfig

__all__ = ["RecipeRouter", "RecipesConfig"]
