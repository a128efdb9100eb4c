"""Training recipes, one a module, each one function you can read top to bottom.

- `finetune_classifier.finetune(FinetuneConfig)`: a pre-trained encoder -> a text classifier
  (its recipes' values in `finetune_settings`).
- `pretrain.pretrain(PretrainConfig, objective)`: masked (`pretrain_mlm`) or causal
  (`pretrain_clm`) language-model pre-training; `pretrain_common` holds what they share,
  `pretrain_corpus` the held-out split and packed blocks, `model_factory` the from-scratch
  models.
- `compare.compare_finetuning(models, ...)`: fine-tune several starting points identically.

They share `plmkit.training` (TrainingArguments defaults, atomic checkpoints, resume, progress,
results JSON) and never print: progress goes to an `on_event` callback as `training.events`.
"""
