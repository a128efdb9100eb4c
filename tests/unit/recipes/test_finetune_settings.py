"""recipes/finetune_settings.py: the recipes' values fill the config fields left at None."""

from __future__ import annotations

from plmkit.config import FinetuneConfig
from plmkit.recipes.finetune_settings import RECIPES, REFERENCE_LENGTH, recipe_settings


def test_recipe_settings_take_explicit_values():
    settings = recipe_settings(FinetuneConfig(recipe="reference", epochs=2))
    assert settings["epochs"] == 2 and settings["batch_size"] == RECIPES["reference"]["batch_size"]


def test_recipes_pick_their_model():
    assert recipe_settings(FinetuneConfig())["model"] == "minilm"
    assert recipe_settings(FinetuneConfig(recipe="accurate"))["model"] == "smollm2"
    assert recipe_settings(FinetuneConfig(recipe="accurate", model="x"))["model"] == "x"


def test_every_recipe_the_config_accepts_exists_and_sets_the_same_fields():
    assert tuple(RECIPES) == FinetuneConfig.RECIPES
    fields = {name for name in RECIPES["default"]}
    assert all(set(recipe) == fields for recipe in RECIPES.values())
    assert RECIPES["reference"]["pad_to"] == REFERENCE_LENGTH == 512
