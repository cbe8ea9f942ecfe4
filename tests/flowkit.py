"""Helpers to build flows from YAML text in tests (the real compiler, no files needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from switchboard.flows import Flow, FlowSet, PromptCatalog, compile_flow

PROMPTS = (
    "greeting", "main_menu", "sales_menu", "invalid", "no_input", "goodbye", "thanks",
    "callback_refused",
)  # fmt: skip
CATALOG = PromptCatalog(
    Path("prompts"), frozenset((lang, name) for lang in ("en", "ru") for name in PROMPTS)
)

SPINE = """
languages: [en]
entry:
  "74951234567": welcome
nodes:
  welcome: {kind: play, prompt: greeting, next: agent}
  agent: {kind: route, endpoint: PJSIP/agent100, timeout: 25, on_fail: fallback}
  fallback: {kind: handback}
"""


def flow(text: str, name: str = "test.yaml") -> Flow:
    compiled, _ = compile_flow(name, textwrap.dedent(text).encode(), CATALOG)
    return compiled


def flow_set(text: str) -> FlowSet:
    one = flow(text)
    return FlowSet((one,), one.version)
