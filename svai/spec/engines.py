"""Which engine serves a model in a GPU package, or why none can.

A spec with ``gpu.required`` never gets a CPU-only package: its model is served by a GPU engine
in a CUDA image, or ``svai plan`` / ``svai build`` refuse it with the reason. The GPU engines load
a Hugging Face ``save_pretrained`` folder (``framework: transformers``):

* ``vllm`` serves ``task: text-generation`` (continuous batching, paged attention);
* ``transformers`` (torch) serves text generation, classification and embeddings.

``model.engine: auto`` picks vLLM for text generation and transformers otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from svai.spec.resolve import ResolvedSpec

__all__ = ["GPU_TASKS", "Engine", "EngineProblem", "gpu_engine"]


GPU_TASKS = {
    "text-generation": "text-generation",
    "classification": "text-classification",
    "embedding": "feature-extraction",
}
"""Spec task -> the engine's task (``svai_runtime.json``'s ``model.task``)."""


@dataclass(frozen=True, slots=True)
class Engine:
    """The engine of a GPU package and the task it runs."""

    name: str
    task: str


@dataclass(frozen=True, slots=True)
class EngineProblem:
    """Why no engine can serve the spec as written: the field, the reason, what to do."""

    field: str
    reason: str
    hint: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}; {self.hint}"


def gpu_engine(spec: ResolvedSpec) -> Engine | EngineProblem | None:
    """The GPU engine of ``spec``; ``None`` for a CPU package; the problem when none fits."""
    model = spec.model
    if not spec.gpu.required:
        if model.engine != "auto":
            return EngineProblem(
                "model.engine",
                f"{model.engine} is a GPU engine and the spec asks for no GPU",
                "set gpu.required: true, or remove model.engine (CPU packages serve ONNX)",
            )
        return None
    if model.framework != "transformers":
        return EngineProblem(
            "model.framework",
            f"gpu.required, but no GPU engine serves a {model.framework} model: the GPU engines "
            "(vLLM, transformers) load a Hugging Face save_pretrained folder, and svai will "
            "not build a CPU-only package for a GPU target",
            "give a transformers folder (config, tokenizer, weights), or drop gpu.required",
        )
    task = GPU_TASKS.get(model.task or "")
    if task is None:
        known = ", ".join(GPU_TASKS)
        return EngineProblem(
            "model.task",
            f"the GPU engines serve {known}; the spec's task is {model.task or 'not set'}",
            f"set model.task to one of {known}, or drop gpu.required",
        )
    name = model.engine
    if name == "auto":
        name = "vllm" if task == "text-generation" else "transformers"
    if name == "vllm" and task != "text-generation":
        return EngineProblem(
            "model.engine",
            f"vLLM serves text generation, not {model.task}",
            "use engine: transformers (or auto)",
        )
    return Engine(name, task)
