"""Dosing stage: a regimen turned into exact dose events.

A :class:`DosingRegimen` describes *what the experimenter does*: a dose per administration, a route, an interval,
a start day and a stop day (the withdrawal), optionally an explicit list of dose days, missed doses and a taper.
It yields

* bolus events ``(time_h, amount_mg_per_kg)`` for i.v., i.p., s.c. and oral (gavage) dosing, and
* piecewise-constant infusion segments ``(t0_h, t1_h, rate_mg_per_kg_per_h)`` for drug in the drinking water,
  with the day/night drinking pattern of nocturnal rodents.

The engines restart the integration at every event and segment boundary, so no solver step straddles a dose.
Time zero is the regimen origin (lights on of the first dosing day); with ``start_day = 0`` it is the first dose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core.params import ConfigError, check_choice, check_fraction, check_positive, param
from sim.core.stage import register_stage

ROUTES = ("iv", "ip", "sc", "oral", "drinking_water")
TAPERS = ("none", "step", "percent")


def check_dose_unit(regimen: DosingRegimen) -> None:
    """Refuse a regimen that sets both or neither of ``dose_mg_per_kg`` and ``dose_mg`` (one line, both keys)."""
    per_kg, mg = regimen.dose_mg_per_kg, regimen.dose_mg
    if per_kg is not None and mg is not None:
        raise ConfigError(
            f"regimen.dose_mg_per_kg = {per_kg!r} and regimen.dose_mg = {mg!r} are both set: give the dose in exactly "
            "one unit; add regimen.dose_mg=null to use mg/kg, or regimen.dose_mg_per_kg=null to use mg"
        )
    if per_kg is None and mg is None:
        raise ConfigError(
            "neither regimen.dose_mg_per_kg nor regimen.dose_mg is set: give the dose in exactly one unit, e.g. "
            "regimen.dose_mg_per_kg=5 (mg/kg) or regimen.dose_mg=10 (mg, converted with species.body_weight_kg)"
        )


@register_stage("regimen")
@dataclass
class DosingRegimen:
    """A dosing schedule with withdrawal, missed doses and tapers.

    Scheduled administrations are at ``start_day + k * interval_h / 24`` for every ``k >= 0`` that falls before
    ``stop_day``; ``dose_days`` replaces that schedule with an explicit list. ``missed_doses`` removes
    administrations by their 0-based index. A taper lowers each administration from ``taper_start_day`` on:
    ``step`` by ``taper_step_mg_per_kg`` and ``percent`` by ``taper_percent`` % of the current dose, once every
    ``taper_every_days``.

    The dose per administration is given in exactly one unit: ``dose_mg_per_kg`` (any species) or ``dose_mg``
    (converted with ``species.body_weight_kg``); both are null in the schema and the regimen or experiment file sets
    one. Setting both, or neither, is refused. ``dose_amounts_mg_per_kg`` and ``taper_step_mg_per_kg`` are always in
    mg/kg. Clock times are not modelled: time zero is the first dose of ``start_day = 0``, and ``interval_h = 8`` or
    ``12`` gives three or two doses a day from it.

    A run refuses a regimen whose largest daily amount exceeds the plausible maximum daily dose of its drug in its
    species (``sim/configs/limits/max_daily_dose.yaml``, checked by :func:`sim.checks.check_plausible_dose`) unless
    ``allow_implausible_dose`` is true.
    """

    route: str = param(
        "ip",
        units="",
        long_name="route of administration",
        source="assumption: the route of [shi2022] is not verified ([alzforum2022] says the mice were 'fed' diazepam); "
        "an i.p. bolus is the common laboratory route",
    )
    dose_mg_per_kg: float | None = param(
        None,
        units="mg/kg",
        long_name="dose per administration per kg body weight (per day for drinking water); set this or dose_mg",
        source="assumption: null in the schema; the regimen or experiment file sets it or dose_mg (the mouse files "
        "follow [shi2022] as reported by [alzforum2022] and [pz2022]: 5 mg/kg/day for 1 week, high dose)",
    )
    dose_mg: float | None = param(
        None,
        units="mg",
        long_name="absolute dose per administration (per day for drinking water), converted with the species body "
        "weight; set this or dose_mg_per_kg",
        source="assumption: null in the schema; the regimen or experiment file sets it or dose_mg_per_kg (the human "
        "regimen files cite their label in regimen.source)",
    )
    interval_h: float = param(
        24.0,
        units="h",
        long_name="interval between administrations",
        source="[shi2022] as reported by [alzforum2022] and [pz2022]: once daily",
    )
    start_day: float = param(
        0.0, units="d", long_name="day of the first administration", source="assumption: time zero is the first dose"
    )
    stop_day: float = param(
        7.0,
        units="d",
        long_name="withdrawal: no administration at or after this day",
        source="[shi2022] as reported by [alzforum2022] and [pz2022]: 1 week at 5 mg/kg/day",
    )
    dose_days: list[float] = param(
        [],
        units="d",
        long_name="explicit administration days (replaces the interval schedule)",
        source="assumption: none (user setting); the interval schedule applies",
    )
    dose_amounts_mg_per_kg: list[float] = param(
        [],
        units="mg/kg",
        long_name="per-administration amounts for dose_days (empty: dose_mg_per_kg each)",
        source="assumption: none (user setting); every administration is dose_mg_per_kg",
    )
    missed_doses: list[int] = param(
        [],
        units="1",
        long_name="0-based indices of scheduled administrations that are skipped",
        source="assumption: none (user setting); every scheduled dose is given",
    )
    taper: str = param("none", units="", long_name="taper kind: none, step or percent", source="user input")
    taper_start_day: float = param(
        math.inf,
        units="d",
        long_name="day the first taper reduction applies",
        source="assumption: never (user setting); [shi2022] stopped abruptly",
    )
    taper_every_days: float = param(
        7.0,
        units="d",
        long_name="days between taper reductions",
        source="assumption: weekly steps (user setting; the usual clinical pace, for teaching)",
    )
    taper_step_mg_per_kg: float = param(
        0.0,
        units="mg/kg",
        long_name="dose reduction per taper step (step taper)",
        source="assumption: no reduction unless set (user setting)",
    )
    taper_percent: float = param(
        25.0,
        units="percent",
        long_name="reduction per taper step, % of the current dose (percent taper)",
        source="assumption: 25 % per step (user setting; a common clinical scheme, for teaching)",
    )
    dark_phase_fraction: float = param(
        0.8,
        units="1",
        long_name="fraction of daily drinking-water intake taken in the 12-h dark phase",
        source="assumption: mice are nocturnal drinkers and take most water in the dark phase; "
        "no pharmacokinetic data of diazepam in drinking water were found",
    )
    lights_off_h: float = param(
        12.0,
        units="h",
        long_name="hour of the day (after time zero) when the 12-h dark phase starts",
        source="assumption: 12:12 light cycle with time zero at lights on",
    )

    source: str = param(
        "", units="", long_name="citation or assumption behind this regimen (dose, interval, duration)", source=""
    )

    allow_implausible_dose: bool = param(
        False,
        units="",
        long_name="run a regimen above the plausible maximum daily dose (sim/configs/limits/max_daily_dose.yaml) "
        "with a warning instead of refusing it",
        source="user input",
    )

    def __post_init__(self) -> None:
        check_choice(self, "route", ROUTES)
        check_choice(self, "taper", TAPERS)
        check_dose_unit(self)
        check_positive(self, self.dose_key.split(".")[1], allow_zero=True)
        check_positive(self, "interval_h", "taper_every_days")
        check_positive(self, "start_day", allow_zero=True)
        check_positive(self, "stop_day", allow_inf=True)
        check_positive(self, "taper_step_mg_per_kg", "taper_percent", allow_zero=True)
        check_positive(self, "taper_start_day", allow_zero=True, allow_inf=True)
        check_fraction(self, "dark_phase_fraction")
        if not isinstance(self.allow_implausible_dose, bool):
            raise ConfigError(
                f"regimen.allow_implausible_dose = {self.allow_implausible_dose!r} is not allowed: it must be true or false"
            )
        if not 0.0 <= self.lights_off_h <= 12.0:
            raise ConfigError(f"regimen.lights_off_h = {self.lights_off_h!r} is not allowed: it must lie in [0, 12]")
        if self.taper_percent > 100:
            raise ConfigError(f"regimen.taper_percent = {self.taper_percent!r} is not allowed: it must lie in [0, 100]")
        if self.stop_day <= self.start_day and not self.dose_days:
            raise ConfigError(
                f"regimen.stop_day = {self.stop_day!r} is not allowed: it must be after regimen.start_day = "
                f"{self.start_day!r} (use regimen.dose_mg_per_kg=0 for a vehicle group)"
            )
        for i, day in enumerate(self.dose_days):
            if not isinstance(day, (int, float)) or not math.isfinite(day) or day < 0:
                raise ConfigError(f"regimen.dose_days[{i}] = {day!r} is not allowed: days must be finite and >= 0")
        if self.dose_amounts_mg_per_kg and self.dose_mg is not None:
            raise ConfigError(
                f"regimen.dose_amounts_mg_per_kg = {self.dose_amounts_mg_per_kg!r} is not allowed with regimen.dose_mg "
                f"= {self.dose_mg!r}: the amounts are in mg/kg; set regimen.dose_mg=null and regimen.dose_mg_per_kg"
            )
        if self.dose_amounts_mg_per_kg and len(self.dose_amounts_mg_per_kg) != len(self.dose_days):
            raise ConfigError(
                f"regimen.dose_amounts_mg_per_kg has {len(self.dose_amounts_mg_per_kg)} entries but regimen.dose_days "
                f"has {len(self.dose_days)}: give one amount per dose day, or none"
            )
        for i, amount in enumerate(self.dose_amounts_mg_per_kg):
            if not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount < 0:
                raise ConfigError(
                    f"regimen.dose_amounts_mg_per_kg[{i}] = {amount!r} is not allowed: amounts must be finite and >= 0"
                )
        if self.route == "drinking_water" and self.dose_days:
            raise ConfigError("regimen.dose_days is not allowed with route=drinking_water: intake is continuous")

    # ------------------------------------------------------------------ schedule
    @property
    def dose_key(self) -> str:
        """The key the dose is given by: ``"regimen.dose_mg"`` or ``"regimen.dose_mg_per_kg"``."""
        return "regimen.dose_mg" if self.dose_mg is not None else "regimen.dose_mg_per_kg"

    def dose_per_kg(self, body_weight_kg: float) -> float:
        """Dose per administration before tapers [mg/kg]: ``dose_mg / body_weight_kg`` if set, else ``dose_mg_per_kg``."""
        if self.dose_mg is not None:
            return self.dose_mg / body_weight_kg
        return self.dose_mg_per_kg

    def dose_attributes(self, body_weight_kg: float) -> dict[str, float | str]:
        """The resolved dose per administration in both units, for a result's attributes.

        ``dose_mg_per_kg`` [mg/kg] and ``dose_mg`` [mg for ``body_weight_kg``], the body weight [kg] and which key set
        the dose (``dose_set_by``).
        """
        per_kg = float(self.dose_per_kg(body_weight_kg))
        return {
            "dose_mg_per_kg": per_kg,
            "dose_mg": float(self.dose_mg) if self.dose_mg is not None else per_kg * float(body_weight_kg),
            "body_weight_kg": float(body_weight_kg),
            "dose_set_by": self.dose_key,
        }

    def _tapered(self, dose: float, day: float) -> float:
        if self.taper == "none" or day < self.taper_start_day:
            return dose
        steps = math.floor((day - self.taper_start_day) / self.taper_every_days + 1e-9) + 1
        if self.taper == "step":
            return max(0.0, dose - steps * self.taper_step_mg_per_kg)
        return dose * (1.0 - self.taper_percent / 100.0) ** steps

    def administration_days(self) -> np.ndarray:
        """Days of the scheduled administrations (before missed doses are removed) [d]."""
        if self.dose_days:
            return np.asarray(sorted(self.dose_days), dtype=float)
        if not math.isfinite(self.stop_day):
            raise ConfigError("regimen.stop_day = inf needs a finite simulation: the engine asks with an end time")
        step_d = self.interval_h / 24.0
        n = math.ceil((self.stop_day - self.start_day) / step_d - 1e-9)
        return self.start_day + step_d * np.arange(max(n, 1))  # start < stop: the first dose is always given

    def bolus_events(self, body_weight_kg: float = 1.0, end_day: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
        """Bolus administrations as ``(times [h], amounts [mg/kg])``, zero-amount doses dropped.

        Empty for ``route = drinking_water`` (see :meth:`infusion_segments`).
        """
        if self.route == "drinking_water":
            return np.empty(0), np.empty(0)
        days = self.scheduled_days(end_day)
        if self.dose_days and self.dose_amounts_mg_per_kg:
            order = np.argsort(self.dose_days, kind="stable")
            base = np.asarray(self.dose_amounts_mg_per_kg, dtype=float)[order]
        else:
            base = np.full(days.size, self.dose_per_kg(body_weight_kg))
        base = base[: days.size]
        amounts = np.array([self._tapered(a, d) for a, d in zip(base, days)], dtype=float)
        keep = np.ones(days.size, dtype=bool)
        for index in self.missed_doses:  # indices outside the schedule are refused by sim.checks before a run
            if 0 <= index < keep.size:
                keep[index] = False
        keep &= amounts > 0
        return days[keep] * 24.0, amounts[keep]

    def scheduled_days(self, end_day: float) -> np.ndarray:
        """Days of the administrations scheduled before ``end_day`` (missed doses included; they index this) [d]."""
        if self.dose_days or math.isfinite(self.stop_day):
            days = self.administration_days()
        else:
            step_d = self.interval_h / 24.0
            days = self.start_day + step_d * np.arange(max(math.ceil((end_day - self.start_day) / step_d), 0))
        return days[days < end_day]

    def infusion_segments(
        self, body_weight_kg: float = 1.0, end_day: float = math.inf
    ) -> list[tuple[float, float, float]]:
        """Drinking-water intake as piecewise-constant segments ``(t0 [h], t1 [h], rate [mg/kg/h])``.

        Each day from ``start_day`` to ``stop_day`` has a 12-h light and a 12-h dark phase; the daily dose is split
        ``1 - dark_phase_fraction`` : ``dark_phase_fraction`` between them. Tapers apply per day.
        """
        if self.route != "drinking_water":
            return []
        t_start, t_stop = self.start_day * 24.0, min(self.stop_day, end_day) * 24.0
        daily = self.dose_per_kg(body_weight_kg)
        edges = {t_start, t_stop}
        first_day, last_day = math.floor(self.start_day), math.ceil(min(self.stop_day, end_day))
        for day in range(first_day, last_day + 1):
            for hour in (0.0, self.lights_off_h, self.lights_off_h + 12.0):
                t = day * 24.0 + hour
                if t_start < t < t_stop:
                    edges.add(t)
        edges = sorted(edges)
        segments = []
        for t0, t1 in zip(edges[:-1], edges[1:]):
            mid = 0.5 * (t0 + t1)
            hour = mid % 24.0
            dark = self.lights_off_h <= hour < self.lights_off_h + 12.0
            fraction = self.dark_phase_fraction if dark else 1.0 - self.dark_phase_fraction
            day_dose = self._tapered(daily, math.floor(mid / 24.0))
            rate = day_dose * fraction / 12.0
            if rate > 0:
                segments.append((t0, t1, rate))
        return segments

    def total_dose_mg_per_kg(self, body_weight_kg: float = 1.0, end_day: float = math.inf) -> float:
        """Total amount given up to ``end_day`` [mg/kg]; used for mass-balance checks."""
        _, amounts = self.bolus_events(body_weight_kg, end_day)
        total = float(amounts.sum())
        for t0, t1, rate in self.infusion_segments(body_weight_kg, end_day):
            total += rate * (t1 - t0)
        return total

    @property
    def withdrawal_day(self) -> float:
        """Day after the last administration's schedule ends (``stop_day``, or the last explicit day)."""
        if self.dose_days:
            return float(max(self.dose_days))
        return float(self.stop_day)
