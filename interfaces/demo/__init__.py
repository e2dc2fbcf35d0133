"""`opsagent demo`: the seed story (``story``) and what it tells the user as it goes (``narrator``)."""

from interfaces.demo.narrator import Narrator
from interfaces.demo.story import DemoResult, auto_approve, run_demo

__all__ = ["DemoResult", "Narrator", "auto_approve", "run_demo"]
