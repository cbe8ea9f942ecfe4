"""Call flows: the YAML language, its compiler and checks, and live reload."""

from .compiler import compile_files, compile_flow
from .model import Flow, FlowSet, Node
from .prompts import PromptCatalog, media_uri
from .reading import FlowError

__all__ = [
    "Flow",
    "FlowError",
    "FlowSet",
    "Node",
    "PromptCatalog",
    "compile_files",
    "compile_flow",
    "media_uri",
]
