"""Synthetic agency feeds written to the contract of feeds.md: deterministic by seed, streamed, with defects."""

from skills_pipeline.local.generator.simulate import DefectRates, GeneratorConfig, generate, sidecar_of

__all__ = ["DefectRates", "GeneratorConfig", "generate", "sidecar_of"]
