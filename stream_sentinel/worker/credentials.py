"""Faust broker credentials from the settings (the only place they become Faust objects).

``Settings`` cannot import faust (the TID251 layering rule), so it describes the connection
neutrally and this module builds what ``faust.App(broker_credentials=...)`` takes.

How faust-streaming 0.15.3 maps them onto aiokafka (``faust/transport/drivers/aiokafka.py``,
``credentials_to_aiokafka_auth``): ``SSLCredentials`` gives ``security_protocol=SSL`` and the
context; ``SASLCredentials`` gives its protocol, ``sasl_mechanism=<mechanism>.value`` and the user
name and password as ``sasl_plain_username``/``sasl_plain_password``, which aiokafka also uses for
SCRAM. ``SASLCredentials`` accepts any ``faust.types.auth.SASLMechanism`` (PLAIN, GSSAPI,
SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER) by value, and its protocol is SASL_SSL exactly when it
is given an ``ssl_context`` (SASL_PLAINTEXT otherwise), so the context must be passed for SASL_SSL.
Consumers, producers and the topic-creating client all get these settings.
"""

from __future__ import annotations

import faust
from faust.types.auth import CredentialsT

from stream_sentinel.config import Settings


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The ``broker_credentials`` for these settings; None for PLAINTEXT (Faust's default).

    Builds the TLS context for SSL and SASL_SSL (reading the certificate files), so a missing
    or broken file raises ``UsageError`` naming the setting before any client starts.
    """
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = settings.ssl_context() if settings.uses_ssl else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    password = settings.sasl_password.get_secret_value() if settings.sasl_password is not None else None
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=password,
        mechanism=settings.sasl_mechanism,
        ssl_context=context,
    )
