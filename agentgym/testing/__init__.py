"""What tests and plugin authors import: the env contract checks, a toy env, tiny random LLMs."""
