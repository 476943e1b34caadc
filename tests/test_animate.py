"""Teaching animation: a GIF is written, with the requested frames, by both commands (one set of options) and Python."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import synaprune_cases
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


#: One set of animation options, given to both commands: 5 frames/s for 0.8 s = 4 frames of 200 ms, 40 dpi.
OPTIONS = ["animate.fps=5", "animate.duration_s=0.8", "animate.dpi=40", "animate.dendrites=2"]


def _check_gif_follows_options(gif) -> None:
    """frames = fps x duration_s, frame duration = 1/fps, size = figure x dpi (the values of :data:`OPTIONS`)."""
    from sim.animate import FIGURE_IN

    with Image.open(gif) as movie:
        assert movie.n_frames == 4 and movie.info["duration"] == 200
        assert movie.size == (round(FIGURE_IN[0] * 40), round((FIGURE_IN[1] + FIGURE_IN[2]) * 40))


def test_python_m_sim_animate_honours_the_same_options(tmp_path, capsys):
    from sim.animate import main

    out = tmp_path / "looks.gif"
    assert main(["experiment=shi2022_high_dose", "debug=smoke", *OPTIONS, "--out", str(out)]) == 0
    _check_gif_follows_options(out)
    assert f"animation: {out.resolve()}" in capsys.readouterr().out


def test_both_commands_read_one_definition_of_the_options():
    """``animate.*`` overrides give the same :class:`sim.run.AnimationOptions` on both composition paths."""
    from sim.run import AnimationOptions

    for load in (sim.load_config, sim.presets.from_overrides):
        options = load(["animate=true", *OPTIONS, "animate.dosing_share=null"]).animate
        assert options == AnimationOptions(True, fps=5, duration_s=0.8, dpi=40, dendrites=2, dosing_share=None)
        assert options.frames == 4
        assert load([]).animate == AnimationOptions() and not AnimationOptions().enabled


#: Refused on both composition paths: (overrides, fragments of the one-line message).
REFUSED = [
    (["+animate=true"], ["+animate=true", "write animate=true (no '+')"]),
    (["animation_fps=8"], ["animation_fps", "renamed animate.fps"]),
    (["animate=true", "animation_frames=60"], ["animation_frames", "animate.duration_s"]),
    (["animate.fps=8"], ["animate.fps = 8 is set but animate = false", "animate=true"]),
    (["animate=true", "animate.fps=0"], ["animate.fps = 0 is not allowed", "1 to 50"]),
    (["animate=true", "animate.dpi=1000"], ["animate.dpi = 1000 is not allowed", "30 to 200"]),
]


@pytest.mark.parametrize(("overrides", "fragments"), REFUSED)
def test_old_and_inconsistent_animation_spellings_are_refused(overrides, fragments):
    """In-process on both composition paths (the CLI's exit status is checked below)."""
    for load in (sim.load_config, sim.presets.from_overrides):
        with pytest.raises(ConfigError) as info:
            load(["debug=smoke", *overrides])
        message = str(info.value)
        assert "\n" not in message
        for fragment in fragments:
            assert fragment in message, message


def test_synaprune_honours_the_animation_options_and_refuses_old_names_and_bad_values(tmp_path):
    """One interpreter (one Hydra import): every refused command line, then ``animate=true`` with :data:`OPTIONS`.

    Refused: exit status 2, one line naming the key, and no run folder left behind. Then the run writes
    ``dendrite.gif`` as the options say (the same check as ``python -m sim.animate`` above).
    """
    refused = [
        ["debug=smoke", *overrides, f"hydra.run.dir={tmp_path / 'refused' / str(i)}"]
        for i, (overrides, _) in enumerate(REFUSED)
    ]
    run_dir = tmp_path / "run"
    good = ["experiment=shi2022_high_dose", "debug=smoke", "animate=true", *OPTIONS, f"hydra.run.dir={run_dir}"]
    (*results, (good_code, good_stderr)), stdout = synaprune_cases([*refused, good], cwd=tmp_path)
    for (_, fragments), (code, stderr) in zip(REFUSED, results, strict=True):
        assert code == 2 and stderr.startswith("synaprune: error: ") and "\n" not in stderr.strip(), stderr
        for fragment in fragments:
            assert fragment in stderr, stderr
    assert not (tmp_path / "refused").exists()

    assert good_code == 0, good_stderr
    _check_gif_follows_options(run_dir / "dendrite.gif")
    assert f"animation: {(run_dir / 'dendrite.gif').resolve()}" in stdout
    assert not list(run_dir.glob(".*.part"))


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


def test_dosing_period_gets_its_share_of_the_loop():
    import numpy as np

    from sim.animate import frame_days

    days = frame_days(70.0, 101, (0.0, 7.0), 0.4)  # 40 % of the loop for the first 10 % of the time
    assert days[0] == 0.0 and days[-1] == 70.0 and np.all(np.diff(days) > 0)
    assert np.count_nonzero(days <= 7.0 + 1e-9) == 41  # frames 0..40 of 0..100
    assert np.allclose(np.diff(days[:41]), 7.0 / 40) and np.allclose(np.diff(days[40:]), 63.0 / 60)
    before = frame_days(30.0, 31, (10.0, 15.0), 0.5)  # drug-free days before the dosing period share the rest
    assert np.isclose(before[np.searchsorted(before, 10.0 - 1e-9)], 10.0) and np.isclose(before[-1], 30.0)
    assert np.allclose(np.diff(before[before <= 10.0 + 1e-9]), np.diff(before[before >= 15.0 - 1e-9])[0])
    uniform = np.linspace(0.0, 84.0, 13)
    assert np.allclose(frame_days(84.0, 13, (0.0, 56.0), 0.4), uniform)  # already 2/3 of the time: unchanged
    assert np.allclose(frame_days(84.0, 13, (0.0, 7.0), None), uniform)
    assert np.allclose(frame_days(84.0, 13, (float("nan"), float("nan")), 0.4), uniform)  # no dosing


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("animate.fps=0", "animate.fps = 0 is not allowed"),
        ("animate.fps=7.5", "animate.fps = 7.5 is not allowed"),
        ("animate.duration_s=-1", "animate.duration_s = -1.0 is not allowed"),
        ("animate.dpi=1000", "animate.dpi = 1000 is not allowed"),
        ("animate.dendrites=0", "animate.dendrites = 0 is not allowed"),
        ("animate.dosing_share=1.5", "animate.dosing_share = 1.5 is not allowed"),
        ("animate.duration_s=0.05", "gives 1 frames"),
        ("animate.speed=2", "animate.speed is not allowed"),
        ("animation_fps=8", "animation_fps was renamed animate.fps"),
        ("animate=false", "animate = false is not allowed"),
    ],
)
def test_bad_animation_options_are_refused_before_anything_is_simulated(override, fragment, tmp_path, capsys):
    from sim.animate import main

    with pytest.raises(SystemExit) as exit_info:
        main(["experiment=shi2022_high_dose", override, "--out", str(tmp_path / "x.gif")])
    assert exit_info.value.code == 2 and fragment in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", range(5))
def test_with_the_default_dendrites_the_drug_effect_stands_out_from_the_spine_count_noise(seed):
    """shi2022_high_dose: the drawn count is >= 7 % down after the dosing week and mostly back in the last two weeks.

    With the former three dendrites (about 55 spines) seed 0 went 60 -> 46 after dosing and stayed near 42 to day 70.
    """

    from sim.animate import AnimationOptions, dendrite_frames, spine_counts

    model = sim.presets.from_overrides(["experiment=shi2022_high_dose"]).model()
    agents, _, days = dendrite_frames(
        model, seed=seed, duration_days=70.0, segments=AnimationOptions.dendrites, frames=71
    )
    counts = spine_counts(agents, days)
    assert counts[0] > 150
    assert counts[7] <= 0.93 * counts[0]  # the mean field's day-7 loss is 13 %
    assert counts[56:].mean() > counts[7] + 0.5 * (counts[0] - counts[7])
