"""Policy LLMs behind one batch interface; concrete backends are imported lazily by name."""

from ttcs.backends.base import Backend, GenerationRequest, Sample, SamplingParams

__all__ = ["Backend", "GenerationRequest", "Sample", "SamplingParams"]
