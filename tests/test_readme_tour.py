"""README.md's tour runs as written.

Every shell command of the tour (the ```bash blocks and the inline `resnext-bench ...` commands under
"## The tour" and its subsections) is either run here, as written, in a temporary working directory
holding copies of ablations/ and slurm/, or listed in SKIP with the reason. A command added to the
tour is therefore run by this test or fails it until it is listed: none can be ignored silently.

How a command is made runnable, and nothing more:
- `[...]` optional parts: the command runs without them and then with them;
- placeholders take values the earlier commands produced: RUN_ID and SWEEP from the run folder
  `train` printed, IMG_PER_S from its measured images/s, NAME a fresh results name; `my.yaml` is
  the copy of slurm/gpu-cluster.example.yaml that step 1 of the section tells the reader to make;
- `train` from an ablation gets TINY appended (1 epoch on 64 digits images: seconds, not minutes).
A command that fails as written is a finding: the test fails and names it.
"""
from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
import signal
from pathlib import Path

import pytest
from support.slurm import fake_gpu_partition

from resnext_bench.cli import main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# Appended to `train ABLATION CONFIG ...` (later --set values win).
TINY = ["--set", "recipe.epochs=1", "--set", "data.train_limit=64", "--set", "data.val_limit=64"]

# Tour commands not run here, exactly as extract_tour() returns them, with the reason.
SKIP = {
    "resnext-bench baselines":
        "builds every named ImageNet model and its timm/torchvision counterparts and runs fvcore and a forward "
        "pass at 224 px: about 150 s on 2 CPU cores (tests/test_baselines.py covers the parity)",
    "resnext-bench bench resnext50_32x4d timm:resnext50_32x4d torchvision:resnext50_32x4d "
    "--settings eager cl cl+compile":
        "three ResNeXt-50s at 224 px, each under eager, channels_last and torch.compile: a GPU job, minutes and "
        "compiler builds on a CPU (tests/test_bench.py runs bench small)",
    "resnext-bench logs RUN_ID|RUN_DIR [--attempt N] [-f]":
        "the tour's run comes from `train`, which has no job and so no job logs (logs exits 2 saying so), and -f "
        "follows until Ctrl-C; tests/test_cancel_logs.py runs logs (-f, --attempt) on launched local runs and "
        "tests/test_cluster_states.py on a requeued Slurm run",
}

PLACEHOLDER = re.compile(r"\b(RUN_ID|SWEEP|IMG_PER_S|NAME|HASH|DIR|KEY|VALUE)\b")


# ---------------------------------------------------------------- reading the tour

def tour_section(text: str) -> str:
    """The text from '## The tour' up to the next second-level heading (its ### subsections included)."""
    start = text.index("\n## The tour\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def extract_tour(text: str) -> list[str]:
    """The tour's commands in README order: bash-block lines (comments dropped, `\\` continuations joined)
    and inline `resnext-bench ...` spans outside code blocks; whitespace normalised."""
    commands, prose = [], []
    in_block, lang, pending = False, "", ""
    for line in tour_section(text).splitlines():
        fence = line.strip().startswith("```")
        if fence and not in_block:
            in_block, lang = True, line.strip()[3:].strip()
            continue
        if fence and in_block:
            in_block = False
            continue
        if not in_block:
            prose.append((len(commands), line))
            continue
        if lang not in ("bash", "sh", "shell", "console"):
            continue
        line = pending + line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        words = shlex.split(line, comments=True)
        if words:
            commands.append(" ".join(words))
    # Inline commands, kept in order relative to the blocks around them.
    ordered = []
    last = 0
    for position, line in prose:
        ordered += commands[last:position]
        last = max(last, position)
        ordered += [" ".join(span.split()) for span in re.findall(r"`(resnext-bench [^`]+)`", line)]
    return ordered + commands[last:]


def variants(command: str) -> list[str]:
    """`[...]` marks optional parts: the command without them, then with each of them."""
    optional = re.findall(r"\[([^\]]+)\]", command)
    bare = " ".join(re.sub(r"\[[^\]]+\]", " ", command).split())
    if not optional:
        return [bare]
    out = [bare]
    for k in range(1, len(optional) + 1):
        for chosen in itertools.combinations(range(len(optional)), k):
            keep = iter(range(len(optional)))
            out.append(" ".join(re.sub(r"\[([^\]]+)\]",
                                       lambda m: m.group(1) if next(keep) in chosen else " ", command).split()))
    return out


def test_the_tour_is_found_and_every_command_is_run_or_skipped_with_a_reason():
    commands = extract_tour(README.read_text())
    assert len(commands) >= 8, commands  # the parser still finds the tour
    assert all(c.startswith("resnext-bench ") for c in commands), [c for c in commands if not c.startswith("resnext-bench ")]
    stale = set(SKIP) - set(commands)
    assert not stale, f"SKIP lists commands the tour no longer has: {sorted(stale)}"
    assert all(reason.strip() for reason in SKIP.values())
    # Everything else is run by test_the_tour_runs_as_written, which substitutes every placeholder
    # or fails naming it.


# ---------------------------------------------------------------- running it

class Tour:
    """Runs tour commands in-process in `cwd` and remembers what later commands need."""

    def __init__(self, cwd: Path, capsys):
        self.cwd, self.capsys = cwd, capsys
        self.values: dict[str, str] = {"NAME": "tour"}
        self.failures: list[str] = []
        self.ran: list[str] = []

    def argv(self, command: str) -> list[str]:
        words = shlex.split(command)[1:]  # drop "resnext-bench"
        out = []
        for w in words:
            w = w.replace("SWEEP...", "SWEEP")
            for name, value in self.values.items():
                w = re.sub(rf"\b{name}\b", value, w)
            left = PLACEHOLDER.findall(w)
            if left:
                raise LookupError(f"no value for placeholder {left[0]} (an earlier command should produce it)")
            out.append(w)
        if out[:1] == ["train"] and len(out) > 1 and not out[1].startswith("-"):
            out += TINY
        return out

    def run(self, readme_command: str, command: str) -> tuple[int, str, str]:
        if not command.startswith("resnext-bench "):
            self.failures.append(f"{readme_command!r}: not a resnext-bench command; run it here or list it in SKIP")
            return -1, "", ""
        try:
            argv = self.argv(command)
        except LookupError as e:
            self.failures.append(f"{readme_command!r}: {e}")
            return -1, "", ""
        self.capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as e:  # argparse refusing the command line
            code = e.code if isinstance(e.code, int) else 2
        out, err = self.capsys.readouterr()
        self.ran.append(readme_command)
        if code != 0:
            self.failures.append(f"{readme_command!r} ran as `resnext-bench {shlex.join(argv)}` and exited {code}:\n"
                                 f"{(err or out)[-1500:]}")
        else:
            self.learn(argv, out, err)
        return code, out, err

    def learn(self, argv: list[str], out: str, err: str) -> None:
        """Values later commands need: the run folder train printed, its images/s."""
        if argv[0] == "train":
            folder = re.search(r"^run folder: (.+)$", err, re.M)
            assert folder, err
            run_dir = Path(folder.group(1).strip())
            self.values.setdefault("RUN_ID", run_dir.name)
            self.values.setdefault("SWEEP", str(run_dir.parent.parent))
            result = json.loads(out.strip().splitlines()[-1])
            if result.get("images_per_sec"):
                self.values.setdefault("IMG_PER_S", f"{result['images_per_sec']:.1f}")


@pytest.fixture
def tour_dir(tmp_path, monkeypatch):
    """A working directory like the checkout's root, but in tmp: copies of ablations/ and slurm/."""
    for folder in ("ablations", "slurm"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
    yield tmp_path
    for s, h in handlers.items():  # `train` installs its stop handlers in this process
        signal.signal(s, h)


def test_the_tour_runs_as_written(tour_dir, capsys, monkeypatch, tmp_path_factory):
    # Step 1 of "Run an ablation on your cluster": copy the example profile (my.yaml), on a cluster that has
    # its partition (the dry run checks it).
    fake_gpu_partition(tmp_path_factory.mktemp("bin"), monkeypatch)
    shutil.copy(tour_dir / "slurm" / "gpu-cluster.example.yaml", tour_dir / "my.yaml")
    before = set((REPO / "sweeps").rglob("*")) if (REPO / "sweeps").exists() else set()
    tour = Tour(tour_dir, capsys)
    outputs = {}
    for command in extract_tour(README.read_text()):
        if command in SKIP:
            continue
        for variant in variants(command):
            outputs[variant] = tour.run(command, variant)
    assert not tour.failures, "README tour commands that fail as written:\n\n" + "\n\n".join(tour.failures)
    commands = extract_tour(README.read_text())
    assert set(tour.ran) | set(SKIP) == set(commands) and not set(tour.ran) & set(SKIP)

    # What the tour says the commands do.
    table = outputs["resnext-bench grid ablations/table3_resnet50.yaml"][1]
    assert [line.split()[0] for line in table.splitlines()[2:7]] == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
    assert "25.6M" in table and "4.09G" in table  # resnet50: 25,557,032 params, 4.089 GFLOPs
    csv_rows = outputs["resnext-bench grid ablations/table3_resnet50.yaml --format csv"][1].splitlines()
    assert [int(r.split(",")[3]) for r in csv_rows[1:]] == [64, 40, 24, 14, 4]  # d, as Table 2 of the paper
    run_dir = Path(tour.values["SWEEP"]) / "runs" / tour.values["RUN_ID"]
    assert Path(tour.values["SWEEP"]) == Path("sweeps/train/demo"), "train writes to sweeps/train/ABLATION"
    assert (tour_dir / run_dir / "result.json").is_file()
    resume = outputs["resnext-bench train --run-dir sweeps/train/demo/runs/RUN_ID"][2]
    assert "not retrained" in resume, "a completed run is not retrained"
    assert not (tour_dir / "sweeps" / "table3_resnet50").exists(), "a dry run writes nothing"
    assert tour.values["RUN_ID"] in outputs["resnext-bench status SWEEP"][1]
    assert (tour_dir / "results" / "tour" / "report.md").is_file()
    # Nothing landed in the checkout.
    assert not (REPO / "results" / "tour").exists()
    after = set((REPO / "sweeps").rglob("*")) if (REPO / "sweeps").exists() else set()
    assert not any(tour.values["RUN_ID"] in str(p) for p in after - before)


def test_extract_tour_reads_blocks_inline_spans_and_optional_parts():
    text = """# x

## Two commands

```bash
resnext-bench demo
```

## The tour

### 1. A

```bash
resnext-bench grid a.yaml   # readable
resnext-bench train a.yaml 0 \\
    --set recipe.epochs=3
```

Then `resnext-bench status SWEEP [--format csv]` and `pip install x`.

```yaml
name: not a command
```

### 2. B

- `resnext-bench report SWEEP... -o results/NAME`

## The run folder

`resnext-bench collect elsewhere`
"""
    assert extract_tour(text) == [
        "resnext-bench grid a.yaml",
        "resnext-bench train a.yaml 0 --set recipe.epochs=3",
        "resnext-bench status SWEEP [--format csv]",
        "resnext-bench report SWEEP... -o results/NAME",
    ]
    assert variants("resnext-bench status SWEEP [--format csv]") == [
        "resnext-bench status SWEEP", "resnext-bench status SWEEP --format csv"]
    assert variants("x [--a 1] [--b]") == ["x", "x --a 1", "x --b", "x --a 1 --b"]
