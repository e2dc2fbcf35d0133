"""What a person touches: the command line, the web page, the Slack bot, `opsagent serve`, the dispatcher
they share, the triage scheduler and the demo. The top layer: nothing below imports it."""

import ml_core  # noqa: F401  # first, so its memory settings (Arrow's pool) come before pandas imports pyarrow
