"""The planning family (after Webb et al. 2023): Tower of Hanoi, graph navigation, valuePath, Blocksworld.

Classic planning puzzles described and acted on in text, each with an exact breadth-first oracle
(:mod:`agentgym.envs.planning.search`) and distance-to-goal rewards
(:mod:`agentgym.envs.planning.common`). The env ids are in the top-level ``envs/planning.yaml``.
"""
