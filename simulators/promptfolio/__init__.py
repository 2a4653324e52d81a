"""Simulators of arXiv 2409.19610 (PromptFolio): the Gaussian prompt model and the real-feature portfolio."""
