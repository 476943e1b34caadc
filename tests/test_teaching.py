"""sim.teaching: the classroom demo agrees with the composed configs, is fast, and its figure/app update in place."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sim
from sim.analysis import deficit_at, max_deficit, recovery_day
from sim.run import simulate_model
from sim.teaching import (
    GENOTYPES,
    TeachingDemo,
    available_drugs,
    behaviour_test_day,
    describe,
    summarize,
    summary_values,
)

# Display tolerance of the demo's looser solver settings against the configured engine (TeachingDemo docstring).
SPINE_ATOL_PERCENT = 0.01
OCCUPANCY_ATOL = 1e-4


@pytest.fixture(scope="module")
def demo() -> TeachingDemo:
    return TeachingDemo().prepare(["diazepam"])


def reference(*overrides: str):
    """The same setting composed through Hydra and simulated with the configured engine on a 3-h grid."""
    return sim.simulate(sim.presets.from_overrides(["output_step_h=3", *overrides]))


def test_available_drugs_are_the_drug_options():
    drugs = available_drugs()
    assert {"diazepam", "xbd173", "clonazepam"} <= set(drugs)
    assert drugs == sorted(drugs)


def test_model_variants_come_from_the_config_options(demo):
    model = demo.model("diazepam", dose_mg_per_kg=2.5, days=14, genotype="TSPO-KO", depleted=True)
    assert model.regimen.dose_mg_per_kg == 2.5 and model.regimen.stop_day == 14.0
    assert model.genotype.name == "tspo_ko" and model.genotype.tspo_expression == 0.0
    composed = sim.presets.from_overrides(["depletion=plx5622"]).depletion
    assert model.depletion == composed
    assert demo.model("diazepam").depletion.fraction_depleted == 0.0
    assert demo.base_model("diazepam") is demo.base_model("diazepam")  # composed once


@pytest.mark.parametrize("bad", [{"days": 0}, {"genotype": "mutant"}, {"follow_up_days": -1}])
def test_invalid_settings_raise(demo, bad):
    with pytest.raises(ValueError):
        demo.update(**bad)


@pytest.mark.parametrize("bad", [{"output_step_h": 5.0}, {"peak_offsets_h": (3.0,)}, {"peak_offsets_h": (0.0,)}])
def test_invalid_grids_raise(bad):
    with pytest.raises(ValueError):
        TeachingDemo(**bad)


def test_peaks_are_on_the_grid(demo):
    """The extra points after each dose catch the occupancy peak that a 3-h grid misses."""
    fine = demo.with_grid(0.25)
    assert fine.base_model("diazepam") is demo.base_model("diazepam")  # shared, not recomposed
    peak = summary_values(demo.update())["peak_tspo_occupancy"]
    assert peak == pytest.approx(summary_values(fine.update())["peak_tspo_occupancy"], rel=0.02)
    coarse = demo.with_grid(3.0)
    assert summary_values(coarse.update())["peak_tspo_occupancy"] < 0.5 * peak


def test_genotype_labels_and_option_names_are_equivalent(demo):
    for label, option in GENOTYPES.items():
        assert demo.model(genotype=label).genotype == demo.model(genotype=option).genotype


def test_grid_and_attributes(demo):
    ds = demo.update(days=7, follow_up_days=21)
    regular = np.arange(0, 28 * 24 + 1, 3.0)
    after_doses = [24.0 * day + offset for day in range(7) for offset in demo.peak_offsets_h]
    np.testing.assert_allclose(ds.time.values, np.union1d(regular, after_doses) / 24.0)
    assert demo.times_h(1.0, [23.0]).tolist() == [3.0 * i for i in range(8)] + [23.25, 23.5, 24.0]
    assert ds.attrs["dosing_stop_day"] == 7.0 and ds.attrs["teaching_follow_up_days"] == 21.0
    assert ds.spine_density_relative.attrs["units"] == "%"


@pytest.mark.parametrize(
    "settings, overrides",
    [
        ({}, ["experiment=shi2022_high_dose"]),
        ({"dose_mg_per_kg": 1.0, "days": 14, "follow_up_days": 14}, ["regimen.dose_mg_per_kg=1", "regimen.stop_day=14", "duration_days=28"]),
        ({"genotype": "gabaa_bz_insensitive", "depleted": True, "follow_up_days": 7}, ["genotype=gabaa_bz_insensitive", "depletion=plx5622", "duration_days=14"]),
    ],
)  # fmt: skip
def test_demo_matches_the_composed_configuration(demo, settings, overrides):
    ds = demo.update(**settings)
    ref = reference(*overrides)
    ds = ds.sel(time=ref.time)  # the demo adds output times after each dose
    np.testing.assert_allclose(ds.spine_density_relative, ref.spine_density_relative, rtol=0, atol=SPINE_ATOL_PERCENT)
    for name in ("tspo_occupancy", "gabaa_occupancy", "microglia_activation"):
        np.testing.assert_allclose(ds[name], ref[name], rtol=0, atol=OCCUPANCY_ATOL)


def test_summary_follows_the_analysis_definitions(demo):
    ds = demo.update()
    s = summary_values(ds)
    assert s["max_spine_loss"] == pytest.approx(max_deficit(ds))
    assert s["recovery_day"] == pytest.approx(recovery_day(ds))
    # recovery: the first grid time after the last dose (day 6) from which the deficit stays below 2 %
    loss = 100.0 - ds.spine_density_relative
    t = ds.time.values
    i = int(np.searchsorted(t, s["recovery_day"]))
    assert s["last_dose_day"] == 6.0 and t[i] == s["recovery_day"]
    assert float(loss[i - 1]) >= 2.0 and float(loss[i:].max()) < 2.0
    assert s["lowest_spine_density"] == pytest.approx(100.0 - s["max_spine_loss"])
    assert behaviour_test_day(ds) == 7.0
    assert s["nor_at_test"] == pytest.approx(float(ds.nor_discrimination_index.interp(time=7.0)))
    assert 0.0 < s["mean_tspo_occupancy"] < s["peak_tspo_occupancy"] <= 1.0
    summary = summarize(ds)
    for name, var in summary.data_vars.items():
        assert var.attrs["long_name"] and "units" in var.attrs, name
        assert float(var) == pytest.approx(s[name], nan_ok=True)


def test_findings_show_in_the_summaries(demo):
    """The study's qualitative findings, as a class would read them off the demo."""
    wt = summary_values(demo.update())
    assert wt["max_spine_loss"] > 10.0 and 42.0 <= wt["recovery_day"] <= 70.0
    assert summary_values(demo.update(genotype="tspo_ko"))["max_spine_loss"] < 0.5
    gaba = summary_values(demo.update(genotype="gabaa_bz_insensitive"))
    assert gaba["max_spine_loss"] == pytest.approx(wt["max_spine_loss"], rel=0.1)
    assert gaba["peak_gabaa_occupancy"] == 0.0
    assert summary_values(demo.update(depleted=True))["peak_microglia_activation"] < 0.01
    vehicle = summary_values(demo.update(dose_mg_per_kg=0.0))
    assert vehicle["max_spine_loss"] < 0.5 and math.isnan(vehicle["recovery_day"])  # never 2 % below baseline
    assert vehicle["recovery_after_last_dose"] == 0.0


def test_describe_names_the_setting(demo):
    text = describe(demo.update(genotype="tspo_ko", depleted=True))
    first, second = text.split("\n")
    assert "diazepam 5 mg/kg/day x 7 d" in first and "tspo_ko + PLX5622" in first
    assert "lowest spine density" in second


def test_figure_updates_in_place_and_blits(demo):
    from sim.plotting import TeachingFigure

    fig = TeachingFigure()
    ds = demo.update()
    fig.update(ds, title=describe(ds))
    assert fig.render() is True  # first draw
    np.testing.assert_allclose(fig.lines["spines"].get_ydata(), ds.spine_density_relative)
    np.testing.assert_allclose(fig.lines["tspo"].get_xdata(), ds.time)
    fig.update(demo.update(dose_mg_per_kg=4.75))  # same axes: blit
    assert fig.render() is False
    fig.update(demo.update(follow_up_days=84))  # longer x axis: full redraw
    assert fig.render() is True
    assert fig.to_png().startswith(b"\x89PNG")
    shade = fig.shades[0]
    assert (shade.get_x(), shade.get_width()) == (0.0, 7.0)


def test_figure_handles_a_drug_without_metabolites_and_no_dose(demo):
    from sim.plotting import TeachingFigure

    fig = TeachingFigure()
    fig.update(demo.update(drug="xbd173", dose_mg_per_kg=1.0)).render()
    assert fig.labels["parent"].get_text() == "xbd173" and not fig.labels["metabolites"].get_visible()
    fig.update(demo.update(dose_mg_per_kg=0.0)).render()
    assert fig.shades[0].get_width() == 0.0


def test_app_refreshes_once_per_set_and_reports_timing(demo, monkeypatch):
    pytest.importorskip("ipywidgets")
    from sim.teaching import TeachingApp

    app = TeachingApp(demo)
    calls = []
    original = app.demo.update
    monkeypatch.setattr(app.demo, "update", lambda **kw: calls.append(kw) or original(**kw))  # count updates
    ds = app.set(dose_mg_per_kg=1.0, days=14, genotype="tspo_ko")
    assert len(calls) == 1 and calls[0]["days"] == 14
    assert ds.attrs["genotype"] == "tspo_ko" and bytes(app.image.value).startswith(b"\x89PNG")
    assert app.compute_s > 0 and app.redraw_s > 0 and app.status.value == ""  # timings kept, not shown
    app.controls["follow_up_days"].value = 21  # a slider move triggers exactly one refresh
    assert len(calls) == 2 and app.dataset.time[-1] == 35.0


DOCS = Path(__file__).resolve().parents[1] / "docs" / "teaching.md"


def _answer_rows(text: str) -> list[list[str]]:
    from sim.teaching import LESSON_MARKERS

    block = text[text.index(LESSON_MARKERS[0]) : text.index(LESSON_MARKERS[1])]
    lines = [line for line in block.splitlines() if line.startswith("| Q") and not line.startswith("| Q |")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_lesson_plan_numbers_match_the_model(demo):
    """docs/teaching.md's answer key is what the model gives now (regenerate: python -m sim.teaching --write ...)."""
    from sim.teaching import LESSON, lesson_answers

    documented = _answer_rows(DOCS.read_text())
    current = lesson_answers(demo)
    assert len(documented) == len(current) == len(LESSON)
    for row, now, question in zip(documented, current, LESSON):
        q, quantity, value, units, settings, key = row
        assert [q, quantity, units, settings, key] == [
            now["Q"],
            now["quantity"],
            now["units"],
            now["settings"],
            now["key"],
        ]
        if value == "never":
            assert now["model"] == "never", quantity
        else:
            half_digit = 0.5 * 10.0**-question.decimals
            assert float(now["model"]) == pytest.approx(float(value), abs=half_digit + 1e-12), quantity


def test_lesson_answers_are_rewritten_in_place(tmp_path, demo):
    from sim.teaching import LESSON_MARKERS, write_lesson_answers

    path = tmp_path / "lesson.md"
    path.write_text(f"intro\n\n{LESSON_MARKERS[0]}\nstale\n{LESSON_MARKERS[1]}\n\noutro\n")
    write_lesson_answers(path, demo)
    text = path.read_text()
    assert text.startswith("intro\n\n") and text.endswith("\n\noutro\n") and "stale" not in text
    assert len(_answer_rows(text)) > 10


def test_answer_quantities(demo):
    from sim.teaching import LessonQuestion, answer

    base = {"days": 7, "follow_up_days": 7}
    ds = demo.update(**base)
    at = answer(demo, LessonQuestion("X", "", base, "gabaa_occupancy@2.5", "1"))
    assert at == pytest.approx(float(ds.gabaa_occupancy.interp(time=2.5)))
    loss = answer(demo, LessonQuestion("X", "", base, "spine_loss_at_test@3", "percent"))
    assert loss == pytest.approx(100 - float(ds.spine_density_relative.interp(time=3.0)))
    mdd = answer(demo, LessonQuestion("X", "", base, "minimal_detectable_nor", "1"))
    cognition = demo.base_model("diazepam").cognition
    assert mdd == pytest.approx(cognition.minimal_detectable_drop(cognition.nor_between_animal_sd))


# ---------------------------------------------------------------------------------------------- stress switch
CUS = {"dose_mg_per_kg": 1.0, "days": 14, "follow_up_days": 14, "stressed": True}  # Bollinger et al. 2020


def test_stress_switch_composes_cus_in_prefrontal_cortex_once(demo):
    stressed, healthy = demo.model(stressed=True), demo.model()
    composed = sim.presets.from_overrides(["stress=cus", "spines=prefrontal_cortex"])
    assert stressed.stress == composed.stress and stressed.spines == composed.spines
    assert stressed.spines.region == "prefrontal_cortex" and stressed.stress.start_day == 0.0
    assert healthy.stress.name == "none" and healthy.spines.region == "somatosensory_cortex"
    assert demo.base_model("diazepam", stressed=True) is demo.base_model("diazepam", stressed=True)  # composed once
    assert demo.stress_duration_days() == composed.stress.duration_days
    # the genotype, depletion and dosing of a stressed variant are the same objects/values as without stress
    variant = demo.model(dose_mg_per_kg=2.5, days=3, genotype="tspo_ko", depleted=True, stressed=True)
    plain = demo.model(dose_mg_per_kg=2.5, days=3, genotype="tspo_ko", depleted=True)
    assert (variant.genotype, variant.depletion, variant.regimen) == (plain.genotype, plain.depletion, plain.regimen)


@pytest.mark.parametrize("arm, dose", [("cus_vehicle", 0.0), ("cus_diazepam", 1.0)])
def test_stress_switch_matches_the_bollinger_experiments(demo, arm, dose):
    """The demo's stressed model is the packaged Bollinger et al. 2020 experiment (14 days, CUS from day 0)."""
    ds = demo.update(**CUS | {"dose_mg_per_kg": dose, "follow_up_days": 0})
    ref = reference(f"experiment=bollinger2020_{arm}")
    assert float(ref.time[-1]) == float(ds.time[-1]) == demo.stress_duration_days()
    ds = ds.sel(time=ref.time)
    np.testing.assert_allclose(ds.spine_density_relative, ref.spine_density_relative, rtol=0, atol=SPINE_ATOL_PERCENT)
    np.testing.assert_allclose(ds.gabaa_occupancy, ref.gabaa_occupancy, rtol=0, atol=OCCUPANCY_ATOL)
    np.testing.assert_allclose(ds.neuronal_activity, ref.neuronal_activity, rtol=0, atol=OCCUPANCY_ATOL)


def test_stress_switch_shows_both_findings(demo):
    """Healthy cortex: diazepam prunes (TSPO). Stressed PFC: vehicle loses spines, diazepam protects via GABA-A."""
    from sim.teaching import LESSON, LessonQuestion, answer

    def loss(**settings):
        ds = demo.update(**CUS | settings)
        assert ds.attrs["teaching_stress_start_day"] == 0.0
        assert ds.attrs["teaching_stress_stop_day"] == demo.stress_duration_days()
        return deficit_at(ds, ds.attrs["teaching_stress_stop_day"])

    vehicle, diazepam = loss(dose_mg_per_kg=0.0), loss()
    insensitive = loss(genotype="gabaa_bz_insensitive")
    assert vehicle > 5.0  # the calibrated CUS loss (sim/configs/stress/cus.yaml) is 12 %
    assert diazepam < vehicle / 3.0  # Bollinger et al. 2020: diazepam blocks the CUS loss
    assert insensitive >= vehicle  # no GABA-A action, no protection; the TSPO arm still prunes
    healthy = demo.update(**CUS | {"stressed": False})
    assert healthy.attrs["region"] == "somatosensory_cortex" and "neuronal_activity" not in healthy
    assert deficit_at(healthy, 14.0) > 0.5  # the same dose prunes healthy cortex (TSPO), as in Shi et al. 2022
    # the lesson reads the same numbers at the configured end of CUS; its dosing lasts as long as the CUS course
    question = LessonQuestion("X", "", CUS | {"dose_mg_per_kg": 0.0}, "spine_loss_at_test@stress_end", "percent")
    assert answer(demo, question) == vehicle
    assert all(q.settings["days"] == demo.stress_duration_days() for q in LESSON if q.settings.get("stressed"))
    with pytest.raises(ValueError, match="stressed=True"):
        answer(demo, LessonQuestion("X", "", {"follow_up_days": 7}, "spine_loss_at_test@stress_end", "percent"))


def test_stress_off_is_the_demo_as_before(demo):
    """With the switch off the demo runs exactly the model it ran before the switch: drug composed alone."""
    cfg = sim.presets.from_overrides(["species=mouse", "drug=diazepam"])
    base = cfg.model()
    regimen = dataclasses.replace(base.regimen, dose_mg_per_kg=2.5, dose_mg=None, start_day=0.0, stop_day=5.0)
    model = dataclasses.replace(base, regimen=regimen)
    doses_h, _ = regimen.bolus_events(base.species.body_weight_kg, 12.0)
    engine = dataclasses.replace(cfg.engine, rtol=demo.rtol, atol=demo.atol)
    before = simulate_model(model, demo.times_h(12.0, doses_h), engine)
    now = demo.update(dose_mg_per_kg=2.5, days=5, follow_up_days=7, stressed=False)
    xr.testing.assert_equal(now, before)  # every variable and value identical (attributes aside)
    assert "teaching_stress_start_day" not in now.attrs and now.attrs["teaching_stressed"] == 0
    assert "chronic stress" not in describe(now)


def test_figure_shows_the_stress_window_and_region(demo):
    from sim.plotting import TeachingFigure

    fig = TeachingFigure()
    ds = demo.update(**CUS)
    fig.update(ds, title=describe(ds))
    assert fig.render() is True
    days = demo.stress_duration_days()
    assert f"chronic stress (CUS, days 0-{days:g}), prefrontal cortex" in fig.title.get_text()
    assert "prefrontal cortex" in fig.stress_label.get_text()
    assert all((shade.get_x(), shade.get_width()) == (0.0, days) for shade in fig.stress_shades)
    np.testing.assert_allclose(fig.lines["activity"].get_ydata(), ds.neuronal_activity)
    assert fig.labels["activity"].get_visible()
    fig.update(demo.update(**CUS | {"stressed": False}))  # switch off: no band, no activity, full redraw
    assert fig.render() is True
    assert fig.stress_shades[0].get_width() == 0.0 and fig.stress_label.get_text() == ""
    assert len(fig.lines["activity"].get_ydata()) == 0 and not fig.labels["activity"].get_visible()


def test_app_has_the_stress_switch(demo):
    pytest.importorskip("ipywidgets")
    from sim.teaching import TeachingApp

    app = TeachingApp(demo)
    assert app.controls["stressed"].value is False and "prefrontal cortex" in app.controls["stressed"].description
    ds = app.set(dose_mg_per_kg=1.0, days=14, follow_up_days=14)
    assert ds.attrs["region"] == "somatosensory_cortex"
    app.controls["stressed"].value = True  # ticking the box re-simulates the stressed PFC model
    assert app.dataset.attrs["region"] == "prefrontal_cortex" and "neuronal_activity" in app.dataset
    assert "prefrontal cortex" in app.figure.title.get_text()


def test_app_opens_at_the_lesson_defaults_with_a_day7_readout(demo):
    """The page opens at the lesson's first setting; the readout is the plotted curve at the test day."""
    pytest.importorskip("ipywidgets")
    from sim.teaching import _HIGH, TeachingApp, spine_density_readout

    app = TeachingApp(demo)
    assert {k: app.settings[k] for k in _HIGH} == _HIGH and app.dataset is not None  # refreshed when built
    day, density = spine_density_readout(app.dataset)
    assert day == 7.0 and math.isclose(density, 100.0 - deficit_at(app.dataset, 7.0), abs_tol=1e-9)
    assert "day 7</b>" in app.readout.value and f"{density:.1f} %" in app.readout.value
    assert app.caveat.value == ""  # 5 mg/kg/day x 7 d is a calibrated arm
    app.controls["dose_mg_per_kg"].value = 20.0
    assert "20 mg/kg/day is above 5 mg/kg/day" in app.caveat.value
    assert spine_density_readout(app.dataset)[1] < density


def test_classroom_figure_is_projector_sized_with_fonts_of_at_least_12_px(demo):
    from sim.teaching import CLASSROOM_DPI, classroom_figure

    fig = classroom_figure().update(demo.update(), title=describe(demo.update()))
    fig.render()
    width, height = fig.figure.canvas.get_width_height(physical=True)
    assert width <= 900 and height <= 600  # right of a 400-px control column in 1300 x 620 px
    texts = [fig.title, fig.stress_label, *fig.labels.values()]
    for ax in fig.axes:
        texts += [ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]
    shown = [t for t in texts if t.get_visible()]
    assert len(shown) > 30 and min(t.get_fontsize() * CLASSROOM_DPI / 72.0 for t in shown) >= 12.0
    renderer = fig.figure.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    assert all(b.x0 >= 0 and b.y0 >= 0 and b.x1 <= width and b.y1 <= height for b in boxes)  # nothing cut off
    for i, a in enumerate(fig.axes):  # no two panels overlap
        for b in fig.axes[i + 1 :]:
            assert not a.get_window_extent().overlaps(b.get_window_extent())


def test_calibrated_range_comes_from_the_calibration_arms():
    from sim.targets import ARMS
    from sim.teaching import CalibratedRange, calibrated_range

    calibrated = calibrated_range()
    assert len(calibrated.arms) == len(ARMS)
    for overrides in ARMS.values():  # every arm, as composed, is inside; the demo's days are its daily doses
        run = sim.presets.from_overrides(list(overrides))
        regimen = run.model().regimen
        days = regimen.stop_day - regimen.start_day
        assert calibrated.caveat(run.model().drug.name, regimen.dose_mg_per_kg, days) == ""
    # an invented range with distinct numbers: each limit is checked on its own
    invented = CalibratedRange((("diazepam", "mouse", 4.0, 10.0), ("diazepam", "mouse", 2.0, 30.0)))
    assert invented.reasons("diazepam", 4.0, 10.0) == [] and invented.reasons("diazepam", 2.0, 30.0) == []
    assert invented.reasons("diazepam", 0.0, 30.0) == []  # a vehicle group
    assert invented.reasons("diazepam", 4.5, 1.0) == ["4.5 mg/kg/day is above 4 mg/kg/day"]
    assert invented.reasons("diazepam", 0.5, 31.0) == ["31 days of dosing is longer than 30 days"]
    assert invented.reasons("diazepam", 3.0, 21.0) == ["a total of 63 mg/kg is more than 60 mg/kg"]
    assert invented.reasons("clonazepam", 1.0, 7.0) == ["drug clonazepam was not calibrated"]
    assert invented.reasons("diazepam", 1.0, 7.0, species="rat") == ["species rat was not calibrated"]
    assert invented.caveat("diazepam", 20.0, 56.0).startswith("Outside the calibrated range (20 mg/kg/day")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cull_idle_timeout_s": 0}, "cull_idle_timeout_s = 0 is not allowed"),
        ({"cull_interval_s": 2.5}, "cull_interval_s = 2.5 is not allowed"),
        ({"port": 70000}, "port = 70000 is not allowed"),
    ],
)
def test_serve_command_refuses_bad_settings(kwargs, fragment):
    from sim.teaching import serve_command

    with pytest.raises(ValueError, match=fragment):
        serve_command("page.ipynb", **kwargs)


def test_serve_command_culls_idle_kernels_of_closed_pages(tmp_path):
    import json
    import sys

    from sim.teaching import CULL_IDLE_TIMEOUT_S, serve_command, write_classroom_page

    notebook = write_classroom_page(tmp_path)
    command = serve_command(notebook, port=8899, open_browser=False)
    assert command[:4] == [sys.executable, "-m", "voila", str(notebook)] and "--no-browser" in command
    assert f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_TIMEOUT_S}" in command
    assert "--MappingKernelManager.cull_connected=False" in command  # an open page is never culled
    page = json.loads(notebook.read_text())
    (cell,) = page["cells"]  # one cell, no developer text, no second figure
    assert cell["source"].strip().endswith("TeachingApp().widget")
    spec = json.loads((tmp_path / "kernels" / page["metadata"]["kernelspec"]["name"] / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
