"""``neuralcodec --help`` and every subcommand's ``--help`` are fast: building the parsers
imports neither torch nor the modules that load it (issue #29)."""

import json
import subprocess
import sys
import textwrap

#: Modules that ``--help`` must not import (torch, and the neuralcodec modules that load it).
HEAVY = ("torch", "neuralcodec.models", "neuralcodec.entropy_models", "neuralcodec.metrics", "neuralcodec.engine")

_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from neuralcodec.cli import main, subcommand_parsers

    def help_of(argv):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                main(argv)
            except SystemExit as exit_:
                code = exit_.code
        return code, out.getvalue()

    commands = list(subcommand_parsers())
    helps = {"": help_of(["--help"])}
    for command in commands:
        helps[command] = help_of([command, "--help"])
    heavy = sorted(m for m in sys.modules if m in HEAVY or any(m.startswith(h + ".") for h in HEAVY))
    print(json.dumps({"commands": commands, "helps": helps, "heavy": heavy}))
    """
)


def test_help_of_every_command_imports_no_torch():
    script = f"HEAVY = {HEAVY!r}\n" + _SCRIPT
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"demo", "compress", "decompress", "train", "export", "eval", "bench", "lossless"} <= set(report["commands"])
    for command, (code, text) in report["helps"].items():
        assert code == 0, command
        assert text.startswith("usage: neuralcodec"), (command, text[:200])
    assert "--effort LEVEL" in report["helps"]["compress"][1]  # its levels come from settings.EFFORT_STEPS
    assert report["heavy"] == [], f"--help imported {report['heavy']}"
