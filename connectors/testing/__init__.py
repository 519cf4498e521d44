"""Test helpers shipped with supportsync: fake Zendesk, Intercom and Customer.io servers.

Enable the fixtures with ``pytest_plugins = ["connectors.testing.pytest_plugin"]``.
openapi-core (a dev dependency) is needed only by the Zendesk and Intercom fakes.
"""
