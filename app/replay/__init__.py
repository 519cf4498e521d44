"""`supportsync replay` and `supportsync version use|show` (SPEC S7).

- `offsets`: where a replay starts and stops on each raw partition (Tansu-aware);
- `pipeline`: the replay worker's pipeline (envelopes become `origin=replay`, the
  `--from`/`--to` window, the one-off horizon handed to the recipes' guard);
- `versions`: the active state version, kept in the `<prefix>control` topic;
- `runner`: runs a replay worker until it has caught up with the captured end offsets;
- `progress`: records, rate and ETA on stderr (shared with `supportsync backfill`);
- `commands`: the CLI.
"""
