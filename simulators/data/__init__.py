"""The data layer: real datasets from package registries (:mod:`.datasets`) and MiniLM text features (:mod:`.text_features`)."""
