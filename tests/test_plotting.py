"""Standard figures: they draw from the Dataset's own labels and return the Axes.

Every figure function is rendered (Agg) and checked for what a reader needs: labelled axes, a legend entry for
every line, nothing drawn outside the canvas (clipped labels), and the specific fixes of issue 9 (schedule in
the title, visible doses, arms that do not hide each other, tolerances that do not read as error bars).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import sim  # noqa: E402

plotting = pytest.importorskip("sim.plotting")


@pytest.fixture(scope="module")
def result():
    return sim.simulate(sim.presets.from_overrides(["experiment=shi2022_high_dose", "debug=smoke"]))


@pytest.fixture(scope="module")
def arms():
    from sim.validation import ARMS, run_arms

    return run_arms(["output_step_h=6"], {k: v for k, v in ARMS.items() if "hippocampus" not in k})


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _has_data(ax) -> bool:
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) and line.get_gid() != "reference"]
    return bool(lines or ax.patches or ax.collections)


def _axis_label(ax, axis: str) -> str:
    """The axis label of ``ax``, or of an axes sharing that axis (shared time axes label only the bottom panel)."""
    own = ax.get_xlabel() if axis == "x" else ax.get_ylabel()
    if own:
        return own
    group = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    for other in ax.figure.axes:
        if other is not ax and group.joined(ax, other):
            label = other.get_xlabel() if axis == "x" else other.get_ylabel()
            if label:
                return label
    return ""


def assert_readable(fig) -> None:
    """Every axes with data is labelled on both axes; every line is in a legend; nothing is clipped.

    Exempt: lines with gid ``"reference"`` (constant guides such as the 100 % baseline or chance level, whose
    meaning is stated in the axis label). Annotation leader lines are not Line2D artists.
    """
    fig.canvas.draw()
    legend_texts = {t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    legend_texts |= {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    for ax in fig.axes:
        if not _has_data(ax):
            continue
        assert _axis_label(ax, "x").strip(), f"axes {ax.get_title()!r} has no x label"
        assert _axis_label(ax, "y").strip(), f"axes {ax.get_title()!r} has no y label"
        for line in ax.get_lines():
            if not len(line.get_xdata()) or line.get_gid() == "reference":
                continue
            label = line.get_label()
            assert not label.startswith("_"), f"unlabelled line in {ax.get_ylabel()!r}"
            assert label in legend_texts, f"line {label!r} is in no legend"
    canvas = fig.bbox
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
            if text.get_text():
                box = text.get_window_extent(renderer)
                assert canvas.x0 - 1 <= box.x0 and box.x1 <= canvas.x1 + 1, f"{text.get_text()!r} is clipped"
                assert canvas.y0 - 1 <= box.y0 and box.y1 <= canvas.y1 + 1, f"{text.get_text()!r} is clipped"


def test_readable_units_accepts_both_spellings():
    assert plotting.readable_units("uM") == plotting.readable_units("umol/L") == "µM"
    assert plotting.readable_units("percent") == plotting.readable_units("%") == "%"
    assert plotting.readable_units("1/um") == "spines/µm"
    assert plotting.readable_units("1/d") == "/day"
    assert plotting.readable_units("1", "fold change vs resting") == "fold change vs resting"


def test_labels_follow_the_stored_units(result):
    renamed = result.copy()
    renamed["spontaneous_alternation"] = result.spontaneous_alternation.assign_attrs(units="%")
    assert plotting._label(result.spontaneous_alternation) == plotting._label(renamed.spontaneous_alternation)
    assert plotting._label(result.spontaneous_alternation).endswith("[%]")
    assert plotting._label(result.spine_density).endswith("[spines/µm]")
    assert plotting._label(result.c1q_level).endswith("[fold change vs resting]")


def test_timecourse_is_readable_and_states_the_schedule(result, tmp_path):
    axes = plotting.plot_timecourse(result).reshape(4, 2)
    fig = axes[0, 0].figure
    assert_readable(fig)
    assert "diazepam 5 mg/kg/day × 7 d, i.p." in fig._suptitle.get_text()
    assert "7 doses" in fig._suptitle.get_text()
    # dosing shaded in every panel, from day 0 to 7
    for ax in axes.flat:
        (patch,) = [p for p in ax.patches]
        assert (patch.get_x(), patch.get_x() + patch.get_width()) == pytest.approx((0.0, 7.0))
    # one tick per dose, at the dose times
    (rug,) = [line for line in axes[0, 0].get_lines() if line.get_label().startswith("dose (")]
    assert np.allclose(rug.get_xdata(), np.arange(7.0))
    # compounds differ in colour and line style
    compounds = [line for line in axes[0, 0].get_lines() if line.get_label() in result.compound.values]
    assert len(compounds) == result.sizes["compound"]
    assert len({str(line.get_linestyle()) for line in compounds}) == len(compounds)
    assert len({line.get_color() for line in compounds}) == len(compounds)
    # no panel mixes quantities at rest at 0 and at 1
    for ax in axes.flat:
        starts = {round(float(line.get_ydata()[0]), 6) for line in ax.get_lines()
                  if line.get_gid() != "reference" and not line.get_label().startswith("dose (")}  # fmt: skip
        assert not {0.0, 1.0} <= starts, ax.get_ylabel()
    # one colour, one meaning: a colour is never used for two different quantities
    meaning = {}
    for ax in axes.flat:
        for line in ax.get_lines():
            if line.get_gid() == "reference" or line.get_label().startswith("dose ("):
                continue
            key = matplotlib.colors.to_hex(line.get_color())
            quantity = "TSPO" if "TSPO" in line.get_label() else line.get_label()
            assert meaning.setdefault(key, quantity) == quantity, (key, quantity)
    assert any("NOR" in line.get_label() for line in axes[3, 1].get_lines())  # behaviour panel
    plotting.save_timecourse(result, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_vehicle_has_no_shading_and_says_so(result):
    vehicle = result.copy()
    vehicle.attrs.update(dosing_start_day=np.nan, dosing_stop_day=np.nan)
    axes = plotting.plot_timecourse(vehicle).reshape(4, 2)
    assert all(len(ax.patches) == 0 for ax in axes.flat)
    assert "no dose" in axes[0, 0].figure._suptitle.get_text()


def test_schedule_text_derives_the_interval_and_taper():
    twice = sim.simulate(sim.presets.from_overrides(
        ["experiment=shi2022_high_dose", "debug=smoke", "regimen.interval_h=12", "output_step_h=1"]))  # fmt: skip
    assert "5 mg/kg every 12 h × 7 d" in plotting.schedule_text(twice)
    assert "14 doses, 70 mg/kg in total" in plotting.schedule_text(twice)


def test_main_figure_targets_are_bands_not_error_bars(arms):
    ax = plotting.plot_main_figure(arms)
    assert_readable(ax.figure)
    assert not ax.containers  # no errorbar: the study's numbers come without a known spread
    bands = [p for p in ax.patches if p.get_label().startswith("calibration target")]
    assert len(bands) == 2
    lines = {line.get_label(): line for line in ax.get_lines()}
    # the vehicle band lies under the TSPO-KO line and is wider, so both stay visible where they coincide
    assert lines["vehicle"].get_zorder() < lines["TSPO-KO"].get_zorder()
    assert lines["vehicle"].get_linewidth() > lines["TSPO-KO"].get_linewidth()


def test_arms_figure_shows_each_arms_own_dosing_period(arms):
    ax = plotting.plot_relative_density(arms)
    assert_readable(ax.figure)
    bars = ax.collections
    dosed = [a for a in plotting.ARM_STYLE if a in arms and not a.startswith("plx") and a != "vehicle"]
    assert len(bars) == len(dosed)
    for arm, bar in zip(dosed, bars):
        (x0, y0), (x1, _) = bar.get_paths()[0].get_extents().get_points()
        assert (x0, x1) == pytest.approx((arms[arm].attrs["dosing_start_day"], arms[arm].attrs["dosing_stop_day"]))
        assert matplotlib.colors.same_color(bar.get_facecolor()[0][:3], plotting._arm_style(arm)["color"])
    # arms at baseline (vehicle, clonazepam) are drawn so that both remain visible
    lines = {line.get_label(): line for line in ax.get_lines()}
    vehicle, clonazepam = lines["vehicle"], lines[plotting.ARM_STYLE["clonazepam"][0]]
    assert vehicle.get_linewidth() > clonazepam.get_linewidth() and vehicle.get_zorder() < clonazepam.get_zorder()
    assert clonazepam.get_linestyle() != "-"


def test_genotype_panels(arms):
    axes = plotting.plot_genotypes(arms)
    assert_readable(axes[0].figure)
    for ax, arm in zip(axes, ("high_dose", "low_dose", "high_dose_2wk")):
        (patch,) = ax.patches
        assert patch.get_x() + patch.get_width() == pytest.approx(arms[arm].attrs["dosing_stop_day"])


def test_turnover_distinguishes_the_plx5622_arms_and_explains_formation(arms):
    axes = plotting.plot_interval_turnover(arms)
    fig = axes[0].figure
    assert_readable(fig)
    styles = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in axes[0].get_lines()}
    labels = [plotting.ARM_STYLE[a][0] for a in ("plx5622_vehicle", "plx5622_high_dose")]
    assert styles[labels[0]] != styles[labels[1]]
    assert "homeostatic" in fig._supxlabel.get_text() and "0–7" in fig._supxlabel.get_text()
    (finding,) = axes[0].patches  # the interval the PLX5622 finding is about
    assert (finding.get_x(), finding.get_x() + finding.get_width()) == pytest.approx((0.0, 7.0))


def test_cognition_is_readable(arms):
    axes = plotting.plot_cognition(arms, test_day=56.0)
    assert_readable(axes[0].figure)
    assert axes[1].get_ylabel().endswith("[%]")


def test_occupancy_map_labels_do_not_overlap():
    import xarray as xr

    names = ["alprazolam", "lorazepam", "clonazepam", "chlordiazepoxide", "diazepam"]
    table = xr.Dataset(
        {
            "mean_gabaa_occupancy": ("drug", [0.15, 0.15, 0.2, 0.01, 0.68], {"units": "1"}),
            "mean_tspo_occupancy": ("drug", [4e-4, 4e-4, 1.3e-4, 4.2e-4, 0.04], {"units": "1"}),
        },
        coords={"drug": names},
    )
    ax = plotting.plot_occupancy_map(table, dim="drug")
    fig = ax.figure
    assert_readable(fig)
    assert [t.get_text() for t in ax.texts] == names
    renderer = fig.canvas.get_renderer()
    boxes = [matplotlib.text.Text.get_window_extent(t, renderer) for t in ax.texts]  # the text, not its leader
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    assert "[fraction of sites]" in ax.get_xlabel()


def test_summary_bars_and_regimen_comparison(result):
    import xarray as xr

    table = xr.Dataset({"max_spine_loss": ("variant", [12.0, 3.0], {"units": "percent", "long_name": "loss"})},
                       coords={"variant": ["a", "b"]})  # fmt: skip
    ax = plotting.plot_summary_bars(table, "max_spine_loss")
    assert_readable(ax.figure)
    assert ax.get_xlabel() == "loss [%]"
    axes = plotting.plot_regimen_comparison({"5 mg/kg": result})
    assert_readable(axes[0].figure)


def test_core_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, sim; sim.simulate_model; assert 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_stress_groups_figure_has_the_four_groups_and_the_dose_curve(arms):
    net = xr.DataArray([0.0, -9.0, 4.0], coords={"dose": [0.0, 1.0, 3.0]}, dims="dose")
    draws = xr.DataArray([[0.0, -12.0, 1.0], [0.0, -6.0, 7.0]], coords={"dose": [0.0, 1.0, 3.0]}, dims=("draw", "dose"))
    axes = plotting.plot_stress_groups(arms, net, net_effect_draws=draws)
    assert len(axes[0].patches) == 8  # four wild-type groups; GABA-A-insensitive and female CUS groups
    heights = [p.get_height() for p in axes[0].patches]
    assert heights[0] == pytest.approx(100.0) and min(heights) < 90.0  # control + vehicle is the reference
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["wild-type male", "GABA-A BZ-insensitive", "female"]
    band = axes[1].collections[0].get_paths()[0].vertices[:, 1]  # the 5-95 % band spans the two draws' values
    assert band.min() == pytest.approx(-11.7) and band.max() == pytest.approx(6.7)
    assert_readable(axes[0].figure)
