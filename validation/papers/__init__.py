"""One module per paper (and the full-model checks); importing a module registers its claims."""

#: the modules :func:`fedtheory.cli.load_claims` imports, in report order
MODULES = ("byzantine_mean", "byzantine_aggregators", "byzantine_classification", "promptfolio", "la_lora", "fedslr", "fedslr_models",
           "fedpft", "fedpft_minilm", "fedpft_accuracy", "private_personalization", "full_model")
