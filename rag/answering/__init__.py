"""Answering: prompt packing, the LLM backends, grounding, condensing, the answerer, batches."""
