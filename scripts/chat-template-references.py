#!/usr/bin/env python3
"""Renders every chat template of llama.cpp's models/templates/ (fetched by
`scripts/fetch-models.sh llama-cpp-models` into models/llama.cpp/templates/) with Python's
jinja2 the way Hugging Face transformers' `apply_chat_template` does (sandboxed, trim_blocks,
lstrip_blocks, loop controls, its `tojson`, `raise_exception` and `strftime_now`), for a few
conversations (one with a tool), and writes tests/fixtures/chat-templates.json, which tests/chat_templates.rs
compares hearth's renders with.

`strftime_now(fmt)` renders as the marker `<<strftime_now:FMT>>`; the test puts in hearth's
own `strftime_now(FMT)` of the day it runs. A template that raises renders as `{"error": ...}`.

Usage: scripts/chat-template-references.py   (needs jinja2 3.1)"""
import hashlib
import json
import pathlib
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = pathlib.Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "models" / "llama.cpp" / "templates"
OUT = REPO / "tests" / "fixtures" / "chat-templates.json"

BOS, EOS = "<BOS>", "<EOS>"
CASES = [
    {
        "name": "system and user, generation prompt",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "add_generation_prompt": True,
    },
    {
        "name": "multi-turn, generation prompt",
        "messages": [
            {"role": "user", "content": "Hi!"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Name three colours,\nplease."},
        ],
        "add_generation_prompt": True,
    },
    {
        "name": "system, user and assistant, no generation prompt",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "2 + 2?"},
            {"role": "assistant", "content": "4"},
        ],
        "add_generation_prompt": False,
    },
    {
        "name": "user with a tool, generation prompt",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The current weather in a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "description": "The city's name."}},
                        "required": ["city"],
                    },
                },
            }
        ],
        "add_generation_prompt": True,
    },
]


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' tojson: json.dumps without HTML escaping.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: f"<<strftime_now:{fmt}>>"
    return env


def main():
    if not TEMPLATES.is_dir():
        sys.exit(f"{TEMPLATES} is missing: run scripts/fetch-models.sh llama-cpp-models")
    env = environment()
    templates = {}
    for path in sorted(TEMPLATES.glob("*.jinja")):
        source = path.read_text(encoding="utf-8")
        entry = {"sha256": hashlib.sha256(source.encode()).hexdigest(), "renders": []}
        try:
            template = env.from_string(source)
        except jinja2.TemplateError as error:
            entry["parse_error"] = str(error)
            templates[path.name] = entry
            continue
        for case in CASES:
            try:
                text = template.render(
                    messages=case["messages"],
                    tools=case.get("tools"),
                    add_generation_prompt=case["add_generation_prompt"],
                    bos_token=BOS,
                    eos_token=EOS,
                )
                entry["renders"].append({"output": text})
            except Exception as error:  # what the template raised, or a jinja2 error
                entry["renders"].append({"error": f"{type(error).__name__}: {error}"})
        templates[path.name] = entry
    fixture = {
        "made_with": f"jinja2 {jinja2.__version__}, {pathlib.Path(__file__).name}",
        "bos_token": BOS,
        "eos_token": EOS,
        "cases": CASES,
        "templates": templates,
    }
    OUT.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}: {len(templates)} templates")


main()
