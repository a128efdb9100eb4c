"""Inference, one verb a module; each is preprocess -> _forward -> postprocess."""
