"""Paper-agnostic federated parts: aggregators, attacks, partitions, DP mechanisms, LoRA helpers, config checks."""
