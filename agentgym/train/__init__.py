"""Training recipes: SB3 under a reward variant (and, later, LLM fine-tuning under a loss variant)."""
