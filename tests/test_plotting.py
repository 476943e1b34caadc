"""Standard figures: they draw from the Dataset's own labels and return the Axes."""

from __future__ import annotations

import numpy as np
import pytest

import sim

plotting = pytest.importorskip("sim.plotting")


@pytest.fixture(scope="module")
def result():
    return sim.simulate(sim.presets.from_overrides(["experiment=shi2022_high_dose", "debug=smoke"]))


def test_timecourse_has_four_panels_and_shades_dosing(result, tmp_path):
    axes = plotting.plot_timecourse(result)
    assert len(axes) == 4
    assert "spine density" in axes[3].get_ylabel()
    assert len(axes[0].patches) == 1  # dosing period
    x0, x1 = axes[0].patches[0].get_x(), axes[0].patches[0].get_x() + axes[0].patches[0].get_width()
    assert (x0, x1) == pytest.approx((0.0, 7.0))
    plotting.save_timecourse(result, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_vehicle_has_no_shading(result):
    vehicle = result.copy()
    vehicle.attrs.update(dosing_start_day=np.nan, dosing_stop_day=np.nan)
    axes = plotting.plot_timecourse(vehicle)
    assert len(axes[0].patches) == 0


def test_core_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, sim; sim.simulate_model; assert 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
