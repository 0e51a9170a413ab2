"""Each language feature the chat templates rely on, rendered by berth and by Jinja2 (set up as
transformers does) over one context: outputs must be byte-identical, and a snippet that raises in
Jinja2 must raise in berth."""

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from reference import cli_path, make_env, render_ours, render_reference  # noqa: E402

CONTEXT = {
    "messages": [
        {"role": "system", "content": "  Be brief.  "},
        {"role": "user", "content": "Héllo 世界 👋"},
        {"role": "assistant", "content": "<think>\nx\n</think>\n\nHi", "tool_calls": [
            {"id": "abc123XYZ", "function": {"name": "f", "arguments": {"a": 1, "b": [True, None, 2.5]}}}]},
        {"role": "tool", "content": {"temp": 20}},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "items": 3, "parameters": {"type": "object"}}}],
    "n": 7, "f": 2.5, "neg": -3, "s": "a,b,,c", "empty": "", "none": None, "t": True, "fl": False,
    "d": {"b": 1, "a": {"x": [1, 2]}, "items": "shadowed"}, "l": [3, 1, 2], "words": ["b", "A", "a", "B"],
}

SNIPPETS = [
    # output, whitespace control, comments, raw
    "{{ 'a' }}  {{- 'b' -}}  {{ 'c' }}", "x\n  {% if t %}\n  y\n  {% endif %}\nz", "a {#- c -#} b {# c #}\n d",
    "  {%+ if t %}x{% endif %}", "{% if t +%}\n x{% endif %}", "{% raw %}{{ not evaluated }}{% endraw %}",
    "line\n", "a\r\nb\rc", "{{ 'x' }}\n\n", "\t{% if t %}\tx\n{% endif %}",
    # literals and printing
    "{{ [1, 'a', none, true, 2.5, {'k': [2]}] }}", "{{ (1, 2) }}{{ (1,) }}{{ () }}", "{{ d }}", "{{ none }}{{ t }}{{ fl }}",
    "{{ 1e20 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }} {{ 1e15 }} {{ 123.0 }} {{ -0.0 }}",
    "{{ \"it's\" }} {{ ['it\\'s', 'a\"b', 'x\\ny', '\\x01', 'é', 'a\\\\b'] }}", "{{ '\\u00e9\\x41\\101\\q\\t' }}",
    "{{ 'ab' 'cd' }}", "{{ d.values() }} {{ d.keys() }} {{ d.items() }}",
    # arithmetic and comparison
    "{{ 1/2 }} {{ 4/2 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2**10 }} {{ 2**-1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
    "{{ 'a' * 3 }} {{ 3 * 'a' }} {{ [1] + [2] }} {{ t + 1 }} {{ n - f }} {{ n * f }} {{ -n }} {{ +f }}",
    "{{ 1 == 1.0 }} {{ t == 1 }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}",
    "{{ 'a' in 'cat' }} {{ 1 in l }} {{ 'a' in d }} {{ 'z' not in d }} {{ 'a' in undefined_var }}",
    "{{ 'x' ~ none ~ t ~ 1 ~ 2.5 ~ undefined_var }}", "{{ 1 / 0 }}", "{{ 'a' + 1 }}", "{{ 5 > 'a' }}",
    "{{ undefined_var + 1 }}", "{{ 'a' in none }}",
    # logic
    "{{ t and 'yes' }} {{ fl or 'no' }} {{ none or empty or 'last' }} {{ not t }} {{ not(fl and t) }}",
    "{{ 'a' if t else 'b' }} {{ 'a' if fl }}|{{ 'x' if fl else 'y' if t else 'z' }}",
    # undefined
    "{{ undefined_var }}|{{ undefined_var is defined }}|{{ d.missing }}|{{ d.missing is defined }}",
    "{{ undefined_var.attr }}", "{{ d.missing.attr }}", "{{ none.attr }}|{{ s.foo }}|{{ l[10] }}|{{ s[100] }}",
    "{% for x in undefined_var %}x{% else %}empty{% endfor %}", "{{ undefined_var | length }}",
    "{{ undefined_var == undefined_var }}",
    # attribute vs item
    "{{ d.a.x[1] }} {{ d['a']['x'][-1] }} {{ d.items is defined }} {{ d['items'] }} {{ tools[0].function['items'] }}",
    "{{ messages[0].role }} {{ messages[-1]['role'] }} {{ l.1 }}",
    # slicing
    "{{ l[::-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[5:] }} {{ 'héllo'[1:3] }} {{ 'héllo'[::-1] }} {{ l[-2:] }}",
    # loops
    "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
    "{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}",
    "{% for x in l if x > 1 %}{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{% for k in d %}{{ k }}{% endfor %}",
    "{% for c in 'héllo' %}{{ c }}.{% endfor %}",
    "{% for x in l %}{% if x == 1 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in [[1, 2], [3, 4]] %}{% for y in x %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}",
    "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}",
    # set, namespace, block set
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}", "{% if t %}{% set x = 5 %}{% endif %}{{ x }}",
    "{% set ns = namespace(c=0, l=[]) %}{% for x in l %}{% set ns.c = ns.c + x %}{% endfor %}{{ ns.c }} {{ ns }}",
    "{% set x %}  block {{ 1 }} {% endset %}[{{ x }}]", "{% set x | upper | trim %} hi {% endset %}[{{ x }}]",
    "{% set ns = namespace() %}{% set ns.a = 1 %}{{ ns.a }}{{ ns.b }}",
    # macros
    "{% macro m(a, b=2) %}[{{ a }},{{ b }},{{ varargs }},{{ kwargs }}]{% endmacro %}{{ m(1) }}{{ m(1, 3, 4) }}{{ m(a=5, z=1) }}",
    "{% macro m(x) %}<{{ caller() }}|{{ x }}>{% endmacro %}{% call m(1) %}inner {{ n }}{% endcall %}",
    "{% macro rec(k) %}{% if k > 0 %}{{ k }}{{ rec(k - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}",
    "{% macro m() %}{{ n }}{% endmacro %}{% set n = 9 %}{{ m() }}",
    # tests
    "{{ n is number }} {{ t is number }} {{ t is integer }} {{ n is integer }} {{ f is float }} {{ t is boolean }} {{ none is none }}",
    "{{ s is string }} {{ d is mapping }} {{ l is iterable }} {{ s is sequence }} {{ d is sequence }} {{ n is iterable }}",
    "{{ undefined_var is iterable }} {{ undefined_var is sequence }} {{ t is true }} {{ fl is false }} {{ 1 is true }}",
    "{{ n is odd }} {{ n is even }} {{ 9 is divisibleby 3 }} {{ 'A' is upper }} {{ 'a' is lower }} {{ n is eq 7 }} {{ n is gt 3 }}",
    "{{ 1 is in l }} {{ messages[0].content is string }} {{ range is callable }} {{ n is not none }}",
    # filters
    "{{ d | tojson }} {{ l | tojson }} {{ 'é\"\\\\\\n\\u2028<>&' | tojson }} {{ 1.0 | tojson }} {{ none | tojson }}",
    "{{ d | tojson(indent=2) }}\n{{ [] | tojson(indent=4) }}{{ {} | tojson(indent=4) }}{{ l | tojson(indent=0) }}",
    "{{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }} {{ 'é' | tojson(ensure_ascii=true) }}",
    "{{ undefined_var | tojson }}", "{{ d.keys() | tojson }}",
    "{{ messages[0].content | trim }}|{{ '..x..' | trim('.') }}|{{ s | length }} {{ l | count }} {{ d | length }} {{ 'é👋' | length }}",
    "{{ undefined_var | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ n | d(3) }}",
    "{{ l | first }} {{ l | last }} {{ 'abc' | first }} {{ [] | first }}|{{ l | join(',') }} {{ l | join }} {{ [1, none] | join('-') }}",
    "{{ 'hELLO wOrld' | upper }} {{ 'hELLO' | lower }} {{ 'hELLO wOrld' | capitalize }} {{ 'hello world-foo(bar' | title }}",
    "{{ 'aXbXc' | replace('X', '-') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '.') }} {{ n | string }} {{ l | string }}",
    "{{ d | items | list }} {{ d | list }} {{ 'abc' | list }} {{ l | reverse | list }} {{ 'abc' | reverse }}",
    "{{ messages | map(attribute='role') | list }} {{ messages | map(attribute='nope', default='x') | join }} {{ words | map('upper') | join }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }}",
    "{{ messages | selectattr('tool_calls') | list | length }} {{ l | select('odd') | list }} {{ l | reject('gt', 1) | list }}",
    "{{ words | unique | list }} {{ words | unique(case_sensitive=true) | list }} {{ words | sort }} {{ l | sort(reverse=true) }}",
    "{{ messages | sort(attribute='role') | map(attribute='role') | join }} {{ l | max }} {{ words | min }} {{ l | sum }} {{ d | dictsort }}",
    "{{ '42' | int }} {{ '3.7' | int }} {{ 'x' | int }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'x' | float }} {{ n | float }}",
    "{{ neg | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 3 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }}",
    "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent('>', blank=true) }}",
    "{{ 'x' | safe }} {{ 'a' ~ l | join(',') }} {{ n | string | length }}",
    "{{ '<b>' | safe + '<i \\'x\\' & \"y\">' }}|{{ '<a>' + '<b>' | safe }}|{{ '<' | safe + '>' | safe }}|{{ '<' | safe ~ '>' }}",
    "{{ 'a\n' | indent(2, true) }}|{{ 'a\n\n' | indent(2) }}|{{ 'a\r' | indent(2) }}|{{ 'a\nb\n' | indent(2, blank=true) }}|{{ '' | indent(2, true) }}",
    "{{ none | selectattr('x') | list }} {{ undefined_var | map(attribute='x') | list }} {{ '' | select('nosuchtest') | list }} {{ 0 | reject | list }}",
    # filter blocks, block scopes, unknown filters in conditionals
    "{% filter upper %}a{{ 'b' }}{% endfilter %}|{% filter trim | upper %}  x  {% endfilter %}|{% filter replace('a', 'b') %}aa{% endfilter %}",
    "{% set y = 5 %}{% filter upper %}{% set y = 1 %}{{ y }}{% endfilter %}{{ y }}{% set z %}{% set y = 2 %}{% endset %}{{ y }}",
    "{% set ns = namespace(v=0) %}{% filter trim %}{% set ns.v = 3 %}{% endfilter %}{{ ns.v }}",
    "{% if fl %}{{ n | from_json }}{% endif %}ok {{ 1 if t else (2 | nosuch) }}",
    "{% if t %}{{ n | from_json }}{% endif %}", "{% if t %}{{ n is nosuchtest }}{% endif %}",
    "{% for m in messages %}{% if fl %}{{ m | nosuch }}{% endif %}{% endfor %}ok",
    # string methods
    "{{ s.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  x y  '.rsplit(None, 1) }}",
    "{{ '  x  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  x'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ '\\nx\\n'.lstrip('\\n') }}",
    "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'Hello World'.title() }} {{ 'hi'.upper() }}",
    "{{ 'a-b'.replace('-', '+') }} {{ '{} and {}'.format(1, 'x') }} {{ '{0}{name}'.format(1, name='n') }} {{ ', '.join(['a', 'b']) }}",
    "{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'aB'.islower() }}",
    "{{ 'hello world'.capitalize() }} {{ 'Ab'.lower() }} {{ ''.split(',') }} {{ 'a'.split('') }}",
    # dict and list methods, dict()
    "{{ d.get('b') }} {{ d.get('zz', 5) }} {{ d.get('zz') }} {{ d.keys() | list }} {{ l.index(2) }} {{ l.count(3) }}",
    "{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ {'a': 1, 'b': 2}['b'] }} {{ {1: 'one', true: 'x'} }}",
    "{{ l.append(4) }}", "{{ d.update({}) }}",
    # raise_exception, errors
    "{{ raise_exception('boom') }}", "{% if n > 5 %}{{ raise_exception('n too big: ' ~ n) }}{% endif %}",
    "{{ n() }}", "{{ undefined_var() }}", "{% for a, b in l %}{% endfor %}",
    "{{ strftime_now('%Y') | length }}",
]


def test_language_features_match_jinja2():
    env = make_env()
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for i, src in enumerate(SNIPPETS):
            path = Path(tmp) / f"s{i}.jinja"
            path.write_text(src, encoding="utf-8")
            results.append(render_ours(path, [CONTEXT])[0])
    failures = []
    for src, got in zip(SNIPPETS, results):
        want = render_reference(env.from_string(src), CONTEXT)
        if got[0] != want[0] or (want[0] and got[1] != want[1]):
            failures.append(f"{src!r}\n  jinja2: {want!r}\n  berth:  {got!r}")
    assert not failures, f"{len(failures)} of {len(SNIPPETS)} snippets differ:\n" + "\n".join(failures)


# Documented limitations (docs/chat_templates.md): Jinja2 renders these, berth refuses them with an
# error naming the line, column and construct instead of rendering something different.
LIMITATIONS = [
    ("{{ '%s' % 1 }}", "printf-style"),
    ("{% include 'x' %}", "unsupported or unexpected tag 'include'"),
    ("{{ x | wordwrap }}", "unsupported filter 'wordwrap'"),
    ("{% if t %}{% for i in l %}{{ i | wordwrap }}{% endfor %}{% endif %}", "unsupported filter 'wordwrap'"),
    ("{% for i in l if i | wordwrap %}{% endfor %}", "unsupported filter 'wordwrap'"),
    ("{% if t %}{% filter wordwrap %}x{% endfilter %}{% endif %}", "unsupported filter 'wordwrap'"),
    ("{{ 0x1F }}", "hexadecimal"),
]


def test_unsupported_constructs_fail_with_line_and_column():
    with tempfile.TemporaryDirectory() as tmp:
        for i, (src, expected) in enumerate(LIMITATIONS):
            path = Path(tmp) / f"l{i}.jinja"
            path.write_text("\n" + src, encoding="utf-8")
            ok, msg = render_ours(path, [CONTEXT])[0] if "%s" in src else (None, None)
            if ok is None:
                proc = subprocess.run([str(cli_path()), "--batch", str(path)], input=b"{}\n", capture_output=True)
                ok, msg = proc.returncode == 0, proc.stderr.decode()
            assert not ok, src
            assert "line 2, column" in msg and expected in msg, msg
