"""Job states and the stage that marks a job refused by a limit (a budget or rate), shared by api and worker."""

ACTIVE_STATES = ("queued", "running")
FINISHED_STATES = ("done", "failed", "cancelled")
# A failed job whose stage is this was refused by a budget or a rate limit: no Retry can succeed until an
# administrator raises the limit, so the pages say so instead of offering one.
REFUSED_STAGE = "refused by a limit"
