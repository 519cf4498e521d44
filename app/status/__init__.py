"""Sync health for operators: the status page and `/state/{identifier}` (`routes`), the gauges
updater (`updater`), and the `dlq` / `state` subcommands (`commands`).

Nothing is imported here: the CLI must not pay for Faust to print its help."""
