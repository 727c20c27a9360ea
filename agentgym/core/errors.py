"""Errors raised by agentgym. Each carries a message a user can act on."""


class AgentGymError(Exception):
    """Base class of every error agentgym raises on purpose."""


class UnknownNameError(AgentGymError, KeyError):
    """A name (env id, agent, reward variant, metric) that no registry holds."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(AgentGymError, ValueError):
    """A user's configuration mistake: a bad argument, keyword argument or value (a ``ValueError`` too)."""


class SpecError(AgentGymError, ValueError):
    """A malformed YAML spec (env, agent or suite)."""


class SubmissionError(AgentGymError, ValueError):
    """A results file the leaderboard refuses."""

    problems: list[str]
    """Every problem found, where the refusal lists them (set by the raiser; absent otherwise)."""


class UntrustedCodeError(AgentGymError):
    """A spec names code (an ``entry_point``) outside agentgym and the installed plugin packages,
    and running such code was not allowed (``--allow-code`` / ``AGENTGYM_ALLOW_CODE=1``)."""


class RunFolderError(AgentGymError):
    """A run's ``--out`` folder that cannot be used: a file, unwritable, another run's, or in use."""
