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


def test_the_default_recipe_trains_2_epochs_in_fp32_unless_told():
    from plmkit.recipes.finetune_settings import epochs_for_dtype

    def epochs(config: FinetuneConfig, bf16: bool) -> int:
        settings = recipe_settings(config)
        epochs_for_dtype(settings, config, bf16)
        assert "epochs_in_fp32" not in settings  # not a training argument
        return settings["epochs"]

    assert epochs(FinetuneConfig(), bf16=True) == 3
    assert epochs(FinetuneConfig(), bf16=False) == 2
    assert epochs(FinetuneConfig(epochs=3), bf16=False) == 3
    assert epochs(FinetuneConfig(recipe="reference"), bf16=False) == 1
