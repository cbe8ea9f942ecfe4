"""Call flows: the YAML language, its compiler and checks, and live reload."""

from .compiler import FlowError, FlowProblem, compile_files, compile_flow
from .model import Flow, FlowSet, Node
from .prompts import PromptCatalog, media_uri

__all__ = [
    "Flow",
    "FlowError",
    "FlowProblem",
    "FlowSet",
    "Node",
    "PromptCatalog",
    "compile_files",
    "compile_flow",
    "media_uri",
]
