"""The project's own exceptions: one base class, and the exit code the command line gives each.

Neutral bottom (imports nothing): every layer, drivers included, may raise these.

* :class:`ThermalinkError` -- base of every error thermalink raises on purpose; the command line
  prints its message on one line and exits with its :attr:`~ThermalinkError.exit_code` (1).
* :class:`InputError` -- bad input: a value outside its allowed range (the message names the value
  and the range), a station file that is missing or unreadable, a stored run that cannot be used
  as asked. Exit code 2. Also a ``ValueError``, so callers that catch ``ValueError`` keep working.
* :class:`SafetyError` -- a safety trip: the source refused, or went to its safe state (interlock,
  hot load that did not settle). Exit code 4. Also a ``RuntimeError``.

Anything else (including a plain ``ValueError``) is a bug or an unexpected failure: the command
line lets it through, with its traceback.
"""

from __future__ import annotations


class ThermalinkError(Exception):
    """Base of thermalink's own exceptions (one-line message on the command line)."""

    #: Exit code of the ``thermalink`` command when this error ends it.
    exit_code = 1


class InputError(ThermalinkError, ValueError):
    """Bad input, named with its allowed range; nothing was changed."""

    exit_code = 2


class SafetyError(ThermalinkError, RuntimeError):
    """A safety condition forbids the action, or tripped: the source is in its safe state."""

    exit_code = 4
