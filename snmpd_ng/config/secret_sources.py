"""Secrets of the config file read from their source: a literal, the environment or a file.

A message about a secret names its key, variable or file, and never shows the value.
"""

from __future__ import annotations

from snmpd_ng.config.build_state import BuildState
from snmpd_ng.config.errors import KeyPath
from snmpd_ng.config.schema import SecretSource
from snmpd_ng.secret import Secret


def resolve_secret(builder: BuildState, path: KeyPath, secret: SecretSource) -> Secret:
    """Read a secret from its literal, environment variable or file.

    Messages name the variable or file, never the value.
    """
    if secret.env is not None:
        value = builder.environ.get(secret.env)
        if value is None:
            builder.report(path, f"environment variable {secret.env} is not set")
        elif not value:
            builder.report(path, f"environment variable {secret.env} is empty")
        return Secret(value or "")
    if secret.file is not None:
        return read_secret_file(builder, path, secret.file)
    if not secret.value:
        builder.report(path, "the secret is empty")
    return Secret(secret.value or "")


def read_secret_file(builder: BuildState, path: KeyPath, name: str) -> Secret:
    file_path = builder.resolve_path(name)
    try:
        text = file_path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        builder.report(path, f"cannot read secret file {str(file_path)!r}: {reason}")
        return Secret("")
    except UnicodeDecodeError:
        builder.report(path, f"secret file {str(file_path)!r} is not UTF-8 text")
        return Secret("")

    # Editors end files with a newline; the secret is the text without it.
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        builder.report(path, f"secret file {str(file_path)!r} is empty")
    return Secret(value)
