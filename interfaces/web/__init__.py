"""The opsagent web page: chat, approvals inbox, incidents and models, behind a sign-in (see app.py)."""
