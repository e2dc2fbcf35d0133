"""opsagent in Slack: the Bolt app (``app``), its HTTP mount (``http``), the dispatcher-event notifier
(``notifier``), Block Kit rendering (``blocks``) and the incident/proposal → thread map (``threads``)."""
