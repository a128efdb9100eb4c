"""Training recipes, one a module, each one function you can read top to bottom.

- `finetune_classifier.finetune(FinetuneConfig)`: a pre-trained encoder -> a text classifier.
- `pretrain_mlm` / `pretrain_clm`: masked / causal language-model pre-training.

They share `plmkit.training` (TrainingArguments defaults, atomic checkpoints, resume, progress,
results JSON) and never print: progress goes to an `on_event` callback.
"""
