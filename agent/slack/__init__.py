"""opsagent in Slack: the Bolt app (``app``), its HTTP mount (``http``), the desk-event notifier
(``notifier``), Block Kit rendering (``blocks``) and the incident/proposal → thread map (``threads``)."""
