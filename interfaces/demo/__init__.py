"""`opsagent demo`: the seed story (``story``: ``run_demo``) and what it tells the user as it goes (``narrator``).

Nothing is imported here: the CLI names the narrator at start-up, and the story pulls in torch and the graphs.
"""
