"""Run folders and output files: one folder per invocation, nothing left behind by a refused input, atomic files.

CLI cases run ``python -m sim`` as subprocesses (Hydra creates the run folder before validation runs, which is what
these tests are about); the file helper and the Python API are tested in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import matplotlib.figure
import pytest
from conftest import synaprune_cases

import sim
from sim import presets
from sim.core.files import PART_PATTERN, STALE_AFTER_S, atomic_path, part_path, remove_stale_parts
from sim.core.params import ConfigError
from sim.io import open_result


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SYNAPRUNE_CONFIG_DIR")}


def cli(*overrides: str, cwd: Path) -> list[str]:
    return [sys.executable, "-m", "sim", "debug=smoke", "figure=false", *overrides]


# ------------------------------------------------------------------------------------------- run folders
def test_concurrent_default_runs_write_two_folders(tmp_path):
    """Two runs launched together (same second) get two folders, each with its own result."""
    procs = [
        subprocess.Popen(
            cli(f"regimen.dose_mg_per_kg={dose}", cwd=tmp_path),
            cwd=tmp_path,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for dose in (1.0, 2.0)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    folders = sorted((tmp_path / "outputs" / "run").iterdir())
    assert len(folders) == 2
    doses = sorted(float(open_result(folder / "result.nc").dose[0]) for folder in folders)
    assert doses == [1.0, 2.0]
    for folder in folders:  # <date>_<time>.<microseconds>_<6 hex digits>
        stamp, _, suffix = folder.name.rpartition("_")
        assert len(suffix) == 6 and int(suffix, 16) >= 0 and len(stamp.rpartition(".")[2]) == 6


REFUSED = {
    "negative_dose": ["regimen.dose_mg_per_kg=-1"],
    "typo_key": ["regimen.dose_mg_per_kgg=1"],
    "added_typo_key": ["+regimen.dose_mg_per_kgg=1"],
    "added_key": ["+new_key=1"],
    "old_animate_spelling": ["+animate=true"],
    "unknown_drug": ["drug=valium"],
    "zero_duration": ["duration_days=0"],
}


def test_refused_inputs_leave_no_run_folder(tmp_path):
    """Hydra creates the run folder (.hydra/, cli.log) before validation runs; a refusal removes what it created.

    Named folders whose parents do not exist either, the default folder, and a folder the user had (kept, with
    its content); a good run in the same process afterwards still writes its result.
    """
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    cases = [[*REFUSED[name], f"hydra.run.dir={tmp_path / 'new' / name}"] for name in REFUSED]
    cases += [["regimen.dose_mg_per_kg=-1"], ["duration_days=0", f"hydra.run.dir={mine}"], []]
    cases = [["debug=smoke", "figure=false", *case] for case in cases]
    results, _ = synaprune_cases(cases, cwd=tmp_path, env=environment())
    for case, (code, stderr) in zip(cases[:-1], results[:-1]):
        assert code == 2, (case, stderr)
        message = stderr.strip()
        assert message.startswith("synaprune: error: ") and "\n" not in message, message
    assert results[-1][0] == 0, results[-1][1]
    assert (mine / "notes.txt").read_text() == "keep me" and not (mine / "result.nc").exists()
    assert not (tmp_path / "new").exists()
    (folder,) = (tmp_path / "outputs" / "run").iterdir()  # only the good run's
    assert (folder / "result.nc").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "outputs"]


# ------------------------------------------------------------------------------------- keys added with +
ADDED_KEYS = {
    "+regimen.dose_mg_per_kgg=1": "regimen.dose_mg_per_kgg",
    "+regimen.foo=1": "regimen.foo",
    "+new_key=1": "new_key",
    "++regimen.foo=1": "regimen.foo",
}


@pytest.mark.parametrize("override", ADDED_KEYS)
def test_load_config_refuses_added_keys_in_one_line(override):
    key = ADDED_KEYS[override]
    with pytest.raises(ConfigError) as info:
        sim.load_config([override])
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{key} is not allowed")
    assert ("fields: " in message) and (("dose_mg_per_kg" in message) == key.startswith("regimen."))


@pytest.mark.parametrize("override", ADDED_KEYS)
def test_presets_refuse_added_keys_in_one_line(override):
    with pytest.raises(ConfigError) as info:
        presets.from_overrides([override])
    message = str(info.value)
    assert "\n" not in message and ADDED_KEYS[override] in message


def test_plus_on_an_existing_key_names_the_spelling():
    for load in (sim.load_config, presets.from_overrides):
        with pytest.raises(ConfigError) as info:
            load(["+animate=true"])
        assert "\n" not in str(info.value) and "write animate=true (no '+')" in str(info.value)
    assert (
        sim.load_config(["animate=true"]).animate.enabled and presets.from_overrides(["animate=true"]).animate.enabled
    )
    assert not sim.load_config([]).animate.enabled


# --------------------------------------------------------------------------------------------- atomic files
class WriteFailed(RuntimeError):
    pass


@pytest.mark.parametrize("error", [WriteFailed, KeyboardInterrupt])
def test_a_failed_write_leaves_neither_file_nor_part(tmp_path, error):
    target = tmp_path / "figure.png"
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            assert PART_PATTERN.match(tmp.name)["name"] == "figure.png" and tmp.parent == tmp_path
            tmp.write_bytes(b"half a file")
            raise error("disk full")
    assert list(tmp_path.iterdir()) == []


def test_a_completed_write_replaces_the_previous_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # untouched until the write completes
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failed_figure_write_leaves_no_file(tmp_path, monkeypatch):
    from sim.plotting import save_timecourse

    ds = sim.simulate(presets.from_overrides(["debug=smoke"]))

    def broken(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG\r\n")
        raise WriteFailed("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(WriteFailed):
        save_timecourse(ds, tmp_path / "timecourse.png")
    assert list(tmp_path.iterdir()) == []


def test_stale_parts_are_removed_and_nothing_else(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has ended (its pid is not reused within this test, as a rule)
    of_dead_writer = tmp_path / f".result.nc.{dead_pid}.0123abcd.part"
    old = tmp_path / f".timecourse.png.{os.getpid()}.89abcdef.part"  # a live pid, but untouched for too long
    live = part_path(tmp_path / "dendrite.gif")  # a live writer: kept
    other = [tmp_path / "notes.part", tmp_path / ".hidden.part", tmp_path / "result.nc"]
    for path in [of_dead_writer, old, live, *other]:
        path.write_text("x")
    long_ago = time.time() - STALE_AFTER_S - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(other[1], (long_ago, long_ago))
    removed = remove_stale_parts(tmp_path)
    assert sorted(removed) == sorted([of_dead_writer, old])
    assert sorted(tmp_path.iterdir()) == sorted([live, *other])


def test_a_killed_writer_leaves_no_final_file_and_its_part_is_cleaned(tmp_path):
    """SIGKILL in the middle of a write: no file under the real name; the next write clears the .part."""
    target = tmp_path / "result.nc"
    script = textwrap.dedent(
        f"""
        import time
        from sim.core.files import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"half")
            print("writing", flush=True)
            time.sleep(120)
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert not target.exists()
    (leftover,) = tmp_path.iterdir()
    assert PART_PATTERN.match(leftover.name)["pid"] == str(writer.pid)
    with atomic_path(tmp_path / "timecourse.png") as tmp:
        tmp.write_bytes(b"png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timecourse.png"]
