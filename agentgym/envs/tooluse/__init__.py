"""The tool-use family: seeded multi-hop tasks solved by calling tools, with an exact oracle.

``safe_eval`` (the calculator's whitelisted arithmetic), ``world`` (the seeded data the tools
read), ``tools`` (tool functions with typed signatures), ``calls`` (parsing and checking an
agent's call, running it), ``tasks`` (task generators and their plans) and ``env`` (the env
under the agentgym contract).
"""
