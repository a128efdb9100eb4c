"""Inference, one verb a module: tokenize, encode, fill_mask, generate, classify, mask_demo,
explain (integrated-gradients attribution of a label) and attention (one layer's weights).

Each verb is a plain function that checks its arguments, loads what it needs (through
`plmkit.loading` / `plmkit.backends`) and runs three module-level steps, top to bottom:
`preprocess` (inputs -> token ids) -> `_forward` (the model; for tokenize the tokenizer, for
mask_demo the masking draws) -> `postprocess` (result objects, in input order). Length-sorted
batches go through the one loop in `plmkit.batching` (`map_padded` / `padded_batches`).
`predictions.py` holds the classifier's result record and its files.
"""
