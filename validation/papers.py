"""Imports every module that registers claims, one per paper (and subject)."""

from . import byzantine_classification, byzantine_mean, full_model, la_lora, promptfolio  # noqa: F401
