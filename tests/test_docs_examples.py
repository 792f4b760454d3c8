"""The shell and Python examples of README.md and docs/*.md run as written (issue 9, item 11).

Every ```sh and ```python block carries a marker on the line before it:
``<!-- example: run -->`` (optionally ``, creates GLOB`` — files the block must leave), or
``<!-- example: skip — why -->``. The runnable blocks of one file run in order as one bash
script in a fresh directory with this checkout's ``smame`` on PATH, so later blocks see what
earlier ones made. A command ending in ``&`` is a server: it runs in the background, the
script goes on once it has printed its first line (it prints after it listens), and it is
stopped at the end. The fixed ports of the examples are swapped for free ones.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- example: (run|skip)(.*?)-->\s*$")
BACKGROUND = re.compile(r"^(?P<command>.*?[^&])&\s*(#.*)?$")
TCP_PORTS = ("8080",)
UDP_PORTS = ("4060",)


@dataclass(frozen=True)
class Example:
    document: Path
    line: int
    language: str
    code: str
    run: bool
    creates: tuple[str, ...]
    marker: str | None  # the marker's text after run/skip; None: no marker


def examples(document: Path) -> list[Example]:
    """The ```sh and ```python blocks of ``document`` with their markers."""
    lines = document.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        language = fence.group(1)
        if language in ("sh", "python"):
            marker = MARKER.match(lines[index - 1]) if index else None
            notes = marker.group(2) if marker else ""
            creates = tuple(part.strip().removeprefix("creates").strip()
                            for part in notes.split(",") if "creates" in part)
            found.append(Example(document, index + 1, language,
                                 "\n".join(lines[index + 1:end]),
                                 bool(marker) and marker.group(1) == "run", creates,
                                 notes if marker else None))
        index = end + 1
    return found


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shell_lines(code: str) -> list[str]:
    """The commands of a shell block, continuation lines joined."""
    commands: list[str] = []
    pending = ""
    for line in code.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(pending + line)
        pending = ""
    return commands


def script(runnable: list[Example]) -> str:
    parts = [
        "set -euo pipefail",
        f'export PATH="{Path(sys.executable).parent}:$PATH"',
        "servers=()",
        'trap \'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done\' EXIT',
    ]
    for number, example in enumerate(runnable):
        parts.append(f"echo '--- {example.document.name}:{example.line}' >&2")
        if example.language == "python":
            parts += [f'python - <<"PYTHON_{number}"', example.code, f"PYTHON_{number}"]
        else:
            for command in shell_lines(example.code):
                server = BACKGROUND.match(command)
                if server is None:
                    parts.append(command)
                    continue
                fd = f"server_{len(parts)}"
                parts += [f"exec {{{fd}}}< <({server['command']} 2>&1)", 'servers+=("$!")',
                          f'read -r -t 120 -u "${fd}" ready || {{ echo "no output from: '
                          f'{server["command"]!r}" >&2; exit 1; }}']
        for pattern in example.creates:
            parts.append(f'compgen -G "{pattern}" > /dev/null || '
                         f'{{ echo "{example.document.name}:{example.line}: nothing made '
                         f'{pattern}" >&2; exit 1; }}')
    text = "\n".join(parts) + "\n"
    for port in TCP_PORTS:
        text = re.sub(rf"(?<=[: ]){port}\b", str(free_port(socket.SOCK_STREAM)), text)
    for port in UDP_PORTS:
        text = re.sub(rf"(?<=[: ]){port}\b", str(free_port(socket.SOCK_DGRAM)), text)
    return text


def test_every_example_is_marked_and_every_skip_says_why() -> None:
    found = [e for d in DOCUMENTS for e in examples(d)]
    assert any(e.run for e in found)
    for example in found:
        where = f"{example.document.name}:{example.line}"
        assert example.marker is not None, (
            f"{where}: mark the example <!-- example: run --> or <!-- example: skip — why -->")
        assert example.run or example.marker.strip(" —-"), f"{where}: say why it is skipped"


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if any(e.run for e in examples(d))],
                         ids=lambda d: d.name)
def test_examples_run_as_written(document: Path, tmp_path: Path) -> None:
    runnable = [e for e in examples(document) if e.run]
    (tmp_path / "examples.sh").write_text(script(runnable))
    result = subprocess.run(["bash", "examples.sh"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]


def test_documents_point_only_inside_the_repository() -> None:
    """Paths named in README.md and docs/*.md (`…` or links) exist in this checkout."""
    named = re.compile(r"`((?:\.\./|docs/|src/|tests/|bench/)[^`\s]*)`|\]\(((?!https?:)[^)#]+)\)")
    for document in DOCUMENTS:
        for match in named.finditer(document.read_text(encoding="utf-8")):
            text = match.group(1) or match.group(2)
            base = document.parent if match.group(2) or text.startswith("..") else ROOT
            target = (base / text.rstrip("/.,")).resolve()
            assert target.is_relative_to(ROOT), f"{document.name}: {text} is outside"
            assert target.exists() or text.startswith("bench/results/") or "…" in text \
                or "*" in text, f"{document.name}: {text} does not exist"
