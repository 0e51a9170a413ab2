"""The Jinja2 environment transformers renders chat templates with, and a driver for our CLI.

The environment setup below is copied from transformers 5.24.0,
src/transformers/utils/chat_template_utils.py, `_cached_compile_jinja_template` (raise_exception,
tojson, strftime_now, the ImmutableSandboxedEnvironment options, the AssistantTracker extension's
{% generation %} tag) and `render_jinja_template` /
`_alias_reasoning_fields` (how variables reach the template). transformers itself is not in the
test environment; only jinja2 is.
"""

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
TEMPLATES = SHARED / "data" / "chat-templates"
QWEN3_CONFIG = SHARED / "data" / "qwen3-tokenizer" / "tokenizer_config.json"


def cli_path() -> Path:
    build = Path(os.environ.get("BERTH_BUILD_DIR", REPO / "build"))
    path = build / "tools" / "render_template" / "berth-render-template"
    assert path.exists(), f"{path} is missing: build the berth-render-template target first"
    return path


# ---- copied from transformers (chat_template_utils.py, _cached_compile_jinja_template) ----------
def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # We override the built-in tojson filter because Jinja's default filter escapes HTML characters
    # We also expose some options like custom indents and separators
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


class TemplateDict:
    # Make a limited subclass so that users can't break out with dictionary attribute access
    # or type-hackery
    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


class TemplateNamespace(jinja2.utils.Namespace):
    # Namespaces reject any dunder attributes to prevent access to CPython internals
    def __init__(*args, **kwargs):
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError("underscore-prefixed namespace attribute")


class AssistantTracker(jinja2.ext.Extension):
    # transformers' {% generation %} tag: a call block whose body renders unchanged (transformers
    # also records where it starts and ends when asked for assistant masks; rendering is the same)
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


# ---- copied from transformers (_alias_reasoning_fields, render_jinja_template) -------------------
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def alias_reasoning_fields(chat):
    aliased_chat = []
    for message in chat:
        if isinstance(message, dict):
            reasoning = next((message[key] for key in _REASONING_FIELDS if message.get(key) is not None), None)
            if reasoning is not None:
                message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        aliased_chat.append(message)
    return aliased_chat


def template_variables(messages, tools=None, add_generation_prompt=False, special_tokens=None, **kwargs):
    """What compiled_template.render(...) receives from apply_chat_template: the special tokens map
    first, kwargs over it, then messages/tools/documents/add_generation_prompt."""
    variables = dict(special_tokens or {})
    variables.update(kwargs)
    variables.update(
        messages=alias_reasoning_fields(messages),
        tools=tools,
        documents=None,
        add_generation_prompt=add_generation_prompt,
    )
    return variables


def render_reference(template, variables):
    """(True, text) or (False, error message); template is a compiled jinja2 Template."""
    try:
        return True, template.render(**variables)
    except jinja2.exceptions.TemplateError as e:
        return False, str(e)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError, OverflowError) as e:
        return False, f"{type(e).__name__}: {e}"


def render_ours(template_path, variables_list):
    """Renders every variables dict in one berth-render-template --batch process."""
    payload = "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in variables_list)
    proc = subprocess.run(
        [str(cli_path()), "--batch", str(template_path)],
        input=payload.encode(),
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().split("\n")[:-1]  # not splitlines(): texts hold U+2028
    assert len(lines) == len(variables_list), proc.stderr.decode(errors="replace")
    out = []
    for line in lines:
        r = json.loads(line)
        out.append((True, r["text"]) if r["ok"] else (False, r["error"]))
    return out
