"""Built-in YAML folders, mapped here from the top-level envs/, agents/ and benchmarks/ in a wheel."""
