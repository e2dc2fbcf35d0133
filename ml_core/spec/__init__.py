"""A watched model's spec: its table, label, SLOs, gate and drift settings (OPSAGENT_HOME/models/NAME.yaml)."""
