"""Teaching animation: a GIF is written, with the requested frames, from the CLI and from Python."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from PIL import Image

import sim
from sim.animate import save_dendrite_gif
from sim.core.params import ConfigError
from sim.engines.agents import AgentEngine
from sim.microglia import MicrogliaDepletion


def test_gif_has_the_requested_frames_and_a_snapshot(model, tmp_path):
    gif = save_dendrite_gif(
        model, tmp_path / "dendrite.gif", duration_days=10.0, frames=6, segments=2, snapshot=tmp_path / "frame.png"
    )
    with Image.open(gif) as movie:
        assert movie.format == "GIF" and movie.n_frames == 6
    with Image.open(tmp_path / "frame.png") as frame:
        assert frame.size[0] > 300


def test_cli_writes_the_animation_into_the_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "sim",
        "experiment=shi2022_high_dose",
        "debug=smoke",
        "animate=true",
        "animation_frames=4",
        "animation_fps=5",
        f"hydra.run.dir={run_dir}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with Image.open(run_dir / "dendrite.gif") as movie:
        assert movie.n_frames == 4 and movie.info["duration"] == 200  # ms per frame at 5 frames/s
    assert f"animation: {(run_dir / 'dendrite.gif').resolve()}" in done.stdout
    assert not list(run_dir.glob(".*.part"))


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["+animate=true"], ["+animate=true", "write animate=true (no '+')"]),
        (["animation_fps=8"], ["animation_fps is set but animate = false", "animate=true"]),
        (["animate=true", "animation_fps=0"], ["animation_fps = 0", ">= 1"]),
    ],
)
def test_old_and_inconsistent_animation_spellings_are_refused(overrides, fragments):
    """In-process on both composition paths (the CLI's refusal of ``+animate=true`` is in tests/test_runs.py)."""
    for load in (sim.load_config, sim.presets.from_overrides):
        with pytest.raises(ConfigError) as info:
            load(["debug=smoke", *overrides])
        message = str(info.value)
        assert "\n" not in message
        for fragment in fragments:
            assert fragment in message, message


def test_failed_gif_write_leaves_no_file(model, tmp_path, monkeypatch):
    def broken(self, fp, *args, **kwargs):
        with open(fp, "wb") as handle:
            handle.write(b"GIF89a")  # a truncated GIF, then the failure
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_dendrite_gif(model, tmp_path / "dendrite.gif", duration_days=2.0, frames=2, segments=1)
    assert list(tmp_path.iterdir()) == []


def test_gif_with_heterogeneous_cells_after_depletion(model, tmp_path):
    """One cell owns every row after depletion; its processes reach across rows, soma size follows its multiplier."""
    depleted = dataclasses.replace(model, depletion=MicrogliaDepletion(fraction_depleted=0.9))
    engine = AgentEngine(microglia_heterogeneity_cv=0.5, contact_rate_per_h=5.0)
    gif = save_dendrite_gif(depleted, tmp_path / "depleted.gif", duration_days=4.0, frames=3, segments=2, engine=engine)
    with Image.open(gif) as movie:
        assert movie.n_frames == 3
