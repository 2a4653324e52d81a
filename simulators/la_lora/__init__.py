"""Simulators of arXiv 2602.19926 (LA-LoRA): synthetic DP federated LoRA, matrix sensing, federated DP LoRA on MiniLM."""
