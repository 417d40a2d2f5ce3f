"""Default names and limits of the queue, import-free so CLI flag parsing stays fast."""

DEFAULT_STREAM = "cog-predictions"
DEFAULT_GROUP = "cogkit"
DEFAULT_STATE_TTL = 24 * 3600  # seconds prediction state and events are kept
DEFAULT_EVENTS_MAXLEN = 1000  # approximate cap of a prediction's update stream
CANCEL_TTL = 24 * 3600
