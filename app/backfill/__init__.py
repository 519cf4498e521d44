"""`supportsync backfill zendesk|intercom --since DATE` (SPEC S2.2).

The pollers walk the platforms' export/search APIs and write what they find to the same
raw topics as the webhooks, as envelopes marked `origin=backfill`, in body shapes the
live normalizers already understand (one code path into the state machine):

- Zendesk: each exported ticket (with its sideloaded requester) becomes a body in the
  recommended trigger shape (`zendesk-trigger/v1`), event id `backfill:<id>:<updated_at>`;
- Intercom: each conversation becomes a notification (`conversation.user.created`, or
  `conversation.admin.closed` when closed) with the conversation as `data.item`.

Resumable and exactly once (`state`, `writer`): before writing a page, the cursor file
records the page as pending with the raw topic's end offsets; after the broker acknowledged
every record, it records the next cursor. A run that finds a pending page fetches it again
and first reads the raw topic from the recorded offsets, writing only the envelopes that
are not there yet, so even a SIGKILL between the write and the cursor update does not
write a ticket twice.
"""
