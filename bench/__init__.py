
#: Placeholder credentials for every destination: with `SUPPORTSYNC_SINKS=""` no sink runs,
#: but routing makes actions for every destination, as a production worker does (routing
#: skips destinations that have no credentials).
ROUTE_EVERYWHERE = {
    "SUPPORTSYNC_CUSTOMERIO_SITE_ID": "bench", "SUPPORTSYNC_CUSTOMERIO_API_KEY": "bench",
    "SUPPORTSYNC_ZENDESK_BASE_URL": "http://127.0.0.1:9", "SUPPORTSYNC_ZENDESK_EMAIL": "bench",
    "SUPPORTSYNC_ZENDESK_API_TOKEN": "bench", "SUPPORTSYNC_INTERCOM_ACCESS_TOKEN": "bench",
    "SUPPORTSYNC_WEBHOOK_SINK_URL": "http://127.0.0.1:9/hook",
    "SUPPORTSYNC_WEBHOOK_SINK_SECRET": "bench", "SUPPORTSYNC_AUDIENCES_URL": "http://127.0.0.1:9",
    "SUPPORTSYNC_WAREHOUSE_DSN": "postgresql://bench@127.0.0.1:9/bench",
}
