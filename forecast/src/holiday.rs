//! Holiday effects learned across years: the analog of each window day in the
//! same holiday's earlier years.
//!
//! Around a long holiday the traffic does not follow the week: electric load
//! falls for a week before Spring Festival as factories close, bottoms over
//! the holiday and takes two weeks to recover; a pooled "holiday" dummy fitted
//! on the last few months cannot know any of that, and a day-ahead forecast
//! that predicts a normal workday on the eve is off by 100 %. What does know
//! it is the same holiday in earlier years. For a step `t` inside the effect
//! window of a named holiday (see `crest_core::calendar::default_effect_window`),
//! with `r` the same time of day on the last observed day before the origin:
//!
//! ```text
//! pred(t) = y(r) - W(r) + W(t) + shrunk mean over earlier years j of
//!           [ (y(t_j) - W(t_j)) - (y(r_j) - W(r_j)) ]
//! ```
//!
//! in the log space the models work in, where `t_j`/`r_j` are the same day
//! offsets in year `j` ([`Part`]: the days before count from the first day
//! off, the days off from the day the holiday is named after — a lunar
//! festival's own date, which moves inside its days off from year to year —
//! and the days after from the last day off; a day off with no counterpart
//! in year `j`'s days off skips that year; where `r` lies outside the window
//! or has no counterpart, `r_j` is the day before `t_j`), and `W` is the weekly profile (per day type and time
//! of day) measured on the year of ordinary days before the origin, so that a
//! Saturday in this year's window is not compared with a Monday in last
//! year's. Starting from `y(r)` makes the level adapt by itself: a ramp-down
//! that started early this year is followed the next morning.
//!
//! The mean over years is shrunk, `sum / (m + lambda)` with `lambda = 1`,
//! toward no change in the profile-adjusted space, which is toward the
//! pooled effect: days off are a day type of their own in `W`, measured on
//! every *other* holiday's days off of the past year, so a holiday seen once
//! moves half-way from "a typical day off" to what it did last time. A
//! holiday never seen before is left to the models' own pooled calendar
//! effects (the regression's holiday, eve and day-after terms). How strongly the week shapes a holiday's window (a Saturday in
//! the middle of Spring Festival is hardly a Saturday) is learned per
//! holiday: the strength, out of five, that best predicts each earlier
//! complete window from the other earlier ones. No coefficient is fitted on
//! the window days themselves, so no wild one is possible: every prediction
//! is yesterday's value moved by changes that really happened.
//!
//! Changes that really happened may still be noise: a cold morning on last
//! year's day after Washington's Birthday, or one rental at 05:00 against fourteen
//! the day before, is copied into this year's forecast as if it were the
//! holiday's. So the analog is weighed against the models' own forecast by
//! how much of the day-to-day change over the holiday's earlier windows is
//! more than ordinary days show ([`signal_share`]): 0.75-0.99 for Area1's
//! load (smooth; its holidays move it far more than any ordinary day;
//! Spring Festival about 0.86), about 0.56 for hourly bike rentals'
//! Christmas and nothing for a holiday whose windows moved no more than
//! ordinary days did (bike rentals' Memorial Day).

use crate::context::{Context, DAY_S};

/// Shrinkage weight of the prior, in occurrences.
const LAMBDA: f64 = 1.0;

/// Days of ordinary history the weekly profile is measured on.
const PROFILE_DAYS: usize = 364;

/// Where a step sits in a holiday's effect window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowPos {
    /// Index into [`HolidayWindows::names`].
    pub name: usize,
    /// Index of this occurrence in the holiday's occurrence list.
    pub occ: usize,
    /// Which part of the window, and so which day the offset counts from.
    pub part: Part,
    /// Day offset from the part's anchor.
    pub k: i64,
}

/// The parts of a holiday's effect window, each with its own anchor: the
/// days before count from the first day off (the eve is the last workday,
/// whatever the festival's date), the days off from the day the holiday is
/// named after (`Calendar::principal_day`: Mid-Autumn's lunar 8/15 is the
/// dip, and it may be the first or the last of its three days off), the
/// days after from the last day off (the first workday back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Before the first day off.
    Before,
    /// A day off.
    Off,
    /// After the last day off.
    After,
}

/// One occurrence of a holiday, in days since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Occurrence {
    /// First day off.
    pub first: i64,
    /// Last day off.
    pub last: i64,
    /// The day it is named after (inside `first..=last`).
    pub principal: i64,
}

/// The holiday windows of a series' calendar, step by step.
#[derive(Debug, Clone, Default)]
pub(crate) struct HolidayWindows {
    /// Holiday names.
    pub names: Vec<String>,
    /// Per name, its periods.
    pub occ: Vec<Vec<Occurrence>>,
    /// Per name, the days its window reaches before the first day off.
    pub before: Vec<i64>,
    /// Per name, the days its window reaches after the last day off.
    pub after: Vec<i64>,
    /// Per step `0..n + horizon`, the window it is in.
    pub pos: Vec<Option<WindowPos>>,
    /// Per step, days since the epoch (local time).
    pub day: Vec<i64>,
}

impl HolidayWindows {
    /// Whether step `i` lies in some holiday's window (false past the end).
    pub(crate) fn covers(&self, i: usize) -> bool {
        self.pos.get(i).is_some_and(Option::is_some)
    }

    /// Windows of every named holiday and event of `calendar`; a day in
    /// two windows belongs to the nearer holiday.
    pub(crate) fn new(
        calendar: &crest_core::Calendar,
        start_local_ms: i64,
        step_ms: i64,
        len: usize,
    ) -> HolidayWindows {
        let day: Vec<i64> = (0..len)
            .map(|i| (start_local_ms + step_ms * i as i64).div_euclid(DAY_S * 1000))
            .collect();
        let (Some(&d0), Some(&d1)) = (day.first(), day.last()) else {
            return HolidayWindows::default();
        };
        let mut names: Vec<String> = Vec::new();
        let mut occ: Vec<Vec<Occurrence>> = Vec::new();
        let mut before: Vec<i64> = Vec::new();
        let mut after: Vec<i64> = Vec::new();
        // (day -> (distance, pos)) for the days of the series only.
        let span = (d1 - d0 + 1) as usize;
        let mut by_day: Vec<Option<(i64, WindowPos)>> = vec![None; span];
        for p in calendar.holiday_periods() {
            let w = calendar.effect_window(&p.name);
            let first = p.first.signed_duration_since(epoch()).num_days();
            let last = p.last.signed_duration_since(epoch()).num_days();
            let principal = calendar
                .principal_day(&p)
                .signed_duration_since(epoch())
                .num_days();
            let (from, to) = (first - i64::from(w.before), last + i64::from(w.after));
            if to < d0 || from > d1 {
                // Still an occurrence other years can be compared with only
                // if it is inside the data; outside it is of no use.
                continue;
            }
            let name = match names.iter().position(|n| *n == p.name) {
                Some(i) => i,
                None => {
                    names.push(p.name.clone());
                    occ.push(Vec::new());
                    before.push(i64::from(w.before));
                    after.push(i64::from(w.after));
                    names.len() - 1
                }
            };
            occ[name].push(Occurrence {
                first,
                last,
                principal,
            });
            let o = occ[name].len() - 1;
            for d in from.max(d0)..=to.min(d1) {
                let dist = if d < first {
                    first - d
                } else if d > last {
                    d - last
                } else {
                    0
                };
                let (part, k) = if d < first {
                    (Part::Before, d - first)
                } else if d > last {
                    (Part::After, d - last)
                } else {
                    (Part::Off, d - principal)
                };
                let pos = WindowPos {
                    name,
                    occ: o,
                    part,
                    k,
                };
                let slot = &mut by_day[(d - d0) as usize];
                if slot.is_none_or(|(best, _)| dist < best) {
                    *slot = Some((dist, pos));
                }
            }
        }
        let pos = day
            .iter()
            .map(|d| by_day[(d - d0) as usize].map(|(_, p)| p))
            .collect();
        HolidayWindows {
            names,
            occ,
            before,
            after,
            pos,
            day,
        }
    }

    /// The day (since the epoch) of position `(part, k)` in occurrence `j`
    /// of holiday `name`; `None` for a day off that has no counterpart among
    /// that occurrence's days off (a four-day break against a three-day one).
    fn day_of(&self, name: usize, j: usize, part: Part, k: i64) -> Option<i64> {
        let o = self.occ[name][j];
        match part {
            Part::Before => Some(o.first + k),
            Part::After => Some(o.last + k),
            Part::Off => Some(o.principal + k).filter(|d| (o.first..=o.last).contains(d)),
        }
    }
}

fn epoch() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// Day types of the weekly profile: Monday..Sunday, then days off.
const TYPES: usize = 8;

/// The profile's day type of step `i`: a day off is its own type (a holiday
/// inside a long break is neither a weekday nor quite a Sunday).
fn profile_type(ctx: &Context, i: usize) -> usize {
    let info = ctx.info[i];
    if info.feats.holiday { 7 } else { info.day_type }
}

/// The weekly profile `W[day type][slot]`: how each day type's time of day
/// sits against the trailing week's mean, over the year before `o`, leaving
/// out the windows of holiday `exclude` (the one being forecast, whose days
/// are what the analog is for); centred over the day types. Days off of the
/// other holidays make the days-off type, so the analog of a holiday seen
/// only once is shrunk toward "a typical day off", not toward "no change".
fn weekly_profile(ctx: &Context, o: usize, pd: usize, exclude: usize) -> Vec<Vec<f64>> {
    let mut eff = vec![vec![0.0; pd]; TYPES];
    let mut cnt = vec![vec![0usize; pd]; TYPES];
    let week = 7 * pd;
    let from = o.saturating_sub(PROFILE_DAYS * pd).max(week);
    for t in from..o {
        if ctx.windows.pos[t].is_some_and(|p| p.name == exclude) || !ctx.y[t].is_finite() {
            continue;
        }
        let mut s = 0.0;
        let mut c = 0usize;
        for b in 1..=7 {
            let v = ctx.filled[t - b * pd];
            if v.is_finite() {
                s += v;
                c += 1;
            }
        }
        if c == 0 {
            continue;
        }
        let slot = ctx.info[t].slot.min(pd - 1);
        let ty = profile_type(ctx, t);
        eff[ty][slot] += ctx.y[t] - s / c as f64;
        cnt[ty][slot] += 1;
    }
    for (e, c) in eff.iter_mut().zip(&cnt) {
        for (v, n) in e.iter_mut().zip(c) {
            if *n > 0 {
                *v /= *n as f64;
            }
        }
    }
    for slot in 0..pd {
        let m = (0..7).map(|d| eff[d][slot]).sum::<f64>() / 7.0;
        for row in eff.iter_mut() {
            row[slot] -= m;
        }
    }
    eff
}

/// What the analog needs per holiday, learned once per forecast at the end
/// of the history: the strength of the weekly profile in its windows.
#[derive(Debug, Clone)]
pub(crate) struct Analog {
    /// Steps per day (the analog works only where a day has whole steps).
    pd: Option<usize>,
    /// Per holiday name, the learned strength.
    beta: Vec<f64>,
    /// Per holiday name, the analog's weight against the models
    /// ([`signal_share`]).
    weight: Vec<f64>,
}

impl Analog {
    /// Learn the strengths from the history before `o`.
    pub(crate) fn new(ctx: &Context, o: usize) -> Analog {
        let names = ctx.windows.names.len();
        let Some(pd) = ctx.per_day else {
            return Analog {
                pd: None,
                beta: vec![1.0; names],
                weight: vec![1.0; names],
            };
        };
        let (beta, weight) = (0..names)
            .map(|n| {
                let w = weekly_profile(ctx, o, pd, n);
                let b = learn_beta(ctx, o, n, pd, &w);
                (b, signal_share(ctx, o, n, pd, &w, b))
            })
            .unzip();
        Analog {
            pd: Some(pd),
            beta,
            weight,
        }
    }

    /// For each step of `o..o + horizon` inside a holiday window, the analog
    /// prediction (transformed space); `None` outside windows, for data
    /// that do not divide a day, and where neither this holiday nor any
    /// other has been seen at that position before `o`.
    pub(crate) fn path(&self, ctx: &Context, o: usize, horizon: usize) -> Vec<Option<(f64, f64)>> {
        let mut out = vec![None; horizon];
        let Some(pd) = self.pd else {
            return out;
        };
        if o == 0 {
            return out;
        }
        let mut profiles: Vec<Option<Vec<Vec<f64>>>> = vec![None; ctx.windows.names.len()];
        for (step, slot) in out.iter_mut().enumerate() {
            let t = o + step;
            let Some(pos) = ctx.windows.pos.get(t).copied().flatten() else {
                continue;
            };
            let w = profiles[pos.name].get_or_insert_with(|| weekly_profile(ctx, o, pd, pos.name));
            // Whole days back to the same time on the last observed day.
            let back = pd * (step / pd + 1);
            *slot = analog_at(ctx, o, t, back, pos, pd, w, self.beta[pos.name])
                .map(|p| (p, self.weight[pos.name]));
        }
        out
    }

    /// Day-ahead errors (transformed space) of the analog at every midnight
    /// of every holiday window in the history before `o`: how hard window
    /// days are, for the width of the bands on them.
    pub(crate) fn window_errors(&self, ctx: &Context, o: usize) -> Vec<f64> {
        let Some(pd) = self.pd else {
            return Vec::new();
        };
        let profiles: Vec<Vec<Vec<f64>>> = (0..ctx.windows.names.len())
            .map(|n| weekly_profile(ctx, o, pd, n))
            .collect();
        let mut out = Vec::new();
        let mut t = pd;
        while t + pd <= o {
            let pos = ctx.windows.pos[t];
            match pos {
                Some(_) if ctx.info[t].slot == 0 => {
                    for k in 0..pd {
                        let i = t + k;
                        let Some(pi) = ctx.windows.pos[i] else {
                            continue;
                        };
                        if !ctx.y[i].is_finite() {
                            continue;
                        }
                        let w = &profiles[pi.name];
                        if let Some(p) = analog_at(ctx, o, i, pd, pi, pd, w, self.beta[pi.name]) {
                            out.push(ctx.y[i] - p);
                        }
                    }
                    t += pd;
                }
                _ => t += 1,
            }
        }
        out
    }
}

/// The analog prediction of step `t` (inside a window, at `pos`) from the
/// same time `back` steps earlier, with the weekly profile `w` scaled by
/// `beta`, over occurrences observed before `o` (never `pos.occ` itself).
#[allow(clippy::too_many_arguments)]
fn analog_at(
    ctx: &Context,
    o: usize,
    t: usize,
    back: usize,
    pos: WindowPos,
    pd: usize,
    w: &[Vec<f64>],
    beta: f64,
) -> Option<f64> {
    let hw = &ctx.windows;
    let r = t.checked_sub(back)?;
    let wk = |i: usize| beta * w[profile_type(ctx, i)][ctx.info[i].slot.min(pd - 1)];
    // Step `i`'s counterpart in occurrence `j`, `i` at window position `p`.
    let counterpart = |i: usize, p: WindowPos, j: usize| -> Option<usize> {
        let dj = hw.day_of(p.name, j, p.part, p.k)?;
        usize::try_from(i as i64 + (dj - hw.day[i]) * pd as i64).ok()
    };
    // The base day's own counterpart, when it lies in this window and has
    // one: its part may count from another anchor than `t`'s (the first day
    // back counts from the last day off, the festival day before it from
    // the festival's date), and the day before last year's first day back
    // need not be last year's festival day. Otherwise the day before `t`'s
    // counterpart.
    let r_pos = hw.pos[r].filter(|p| p.name == pos.name && p.occ == pos.occ);
    let change_at = |j: usize| -> Option<f64> {
        let tj = counterpart(t, pos, j)?;
        let rj = r_pos
            .and_then(|p| counterpart(r, p, j))
            .or_else(|| tj.checked_sub(back))?;
        if tj >= o || rj >= o || !ctx.y[tj].is_finite() || !ctx.y[rj].is_finite() {
            return None;
        }
        Some((ctx.y[tj] - wk(tj)) - (ctx.y[rj] - wk(rj)))
    };
    let (mut own, mut m) = (0.0, 0usize);
    for j in 0..hw.occ[pos.name].len() {
        if j == pos.occ {
            continue;
        }
        if let Some(c) = change_at(j) {
            own += c;
            m += 1;
        }
    }
    // Never seen before: the models' own pooled calendar effects serve
    // (borrowing the other holidays' changes at the same position did worse
    // on the NYC taxi holidays, which the history never saw).
    if m == 0 {
        return None;
    }
    let base = if ctx.y[r].is_finite() {
        ctx.y[r]
    } else {
        ctx.filled[r]
    };
    // Shrunk toward no change in the profile-adjusted space, i.e. toward
    // the day-type profile: a day off inside the window moves toward what
    // the other holidays' days off looked like this past year.
    let change = own / (m as f64 + LAMBDA);
    Some(base - wk(r) + change + wk(t))
}

/// How much of the day-to-day change over holiday `name`'s earlier windows
/// is the holiday's and not noise: `1 - noise / total`, clamped to `0..=1`.
/// `total` is the mean square of the change from the same time the day
/// before, the weekly profile taken out as the analog takes it out (at the
/// holiday's learned strength `beta`), over the steps of the holiday's
/// earlier windows that the history holds whole; `noise` the same over the
/// ordinary days of the year before `o`, the weekly profile taken out in
/// full (on an ordinary day the week matters fully). It weighs the analog
/// against the models' own forecast: a holiday whose windows moved no more
/// than ordinary days do (a handful of hourly rentals, a storm) has taught
/// the analog nothing but that noise, so the models serve; one that moved
/// far more (Spring Festival's load) keeps the analog. No whole earlier
/// window: 1 (the analog then rests on whatever part it has, as before).
fn signal_share(ctx: &Context, o: usize, name: usize, pd: usize, w: &[Vec<f64>], beta: f64) -> f64 {
    let hw = &ctx.windows;
    let Some(&today) = hw.day.get(o) else {
        return 1.0;
    };
    // Mean square of the change from the day before over the steps `keep`
    // admits, the weekly profile taken out at strength `b`.
    let mean_square = |from: usize, b: f64, keep: &dyn Fn(usize) -> bool| -> Option<f64> {
        let wk = |i: usize| b * w[profile_type(ctx, i)][ctx.info[i].slot.min(pd - 1)];
        let (mut sum, mut n) = (0.0, 0usize);
        for t in from.max(pd)..o {
            let r = t - pd;
            if keep(t) && ctx.y[t].is_finite() && ctx.y[r].is_finite() {
                let d = (ctx.y[t] - wk(t)) - (ctx.y[r] - wk(r));
                sum += d * d;
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    };
    let noise = mean_square(o.saturating_sub(PROFILE_DAYS * pd), 1.0, &|t| {
        hw.pos[t].is_none() && hw.pos[t - pd].is_none()
    });
    // A window the history cuts into shows its tail or its head, not what
    // the holiday does.
    let whole = |j: usize| {
        let occ = hw.occ[name][j];
        occ.first - hw.before[name] >= hw.day[0] && occ.last + hw.after[name] < today
    };
    let total = mean_square(0, beta, &|t| {
        hw.pos[t].is_some_and(|p| p.name == name && whole(p.occ))
    });
    match (noise, total) {
        (Some(noise), Some(total)) if total > 0.0 => (1.0 - noise / total).clamp(0.0, 1.0),
        _ => 1.0,
    }
}

/// Strengths of the weekly profile tried for each holiday.
const BETAS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// How strongly the week shapes the days of holiday `name`'s windows,
/// learned before `o`: each earlier occurrence's window days are predicted
/// day-ahead from the other earlier occurrences, for each strength in
/// [`BETAS`], and the strength with the least absolute error (in the
/// original units) wins. With fewer than two earlier occurrences there is
/// nothing to learn from: the full weekly profile.
fn learn_beta(ctx: &Context, o: usize, name: usize, pd: usize, w: &[Vec<f64>]) -> f64 {
    let hw = &ctx.windows;
    // Only whole earlier windows teach: a window still under way would
    // score the strength on the days that led up to this very forecast.
    let Some(&today) = hw.day.get(o) else {
        return 1.0;
    };
    let complete = |j: usize| hw.occ[name][j].last + hw.after[name] < today;
    let seen = (0..hw.occ[name].len()).filter(|j| complete(*j)).count();
    if seen < 2 {
        return 1.0;
    }
    // Hourly resolution is plenty to tell the strengths apart.
    let stride = (pd / 24).max(1);
    let mut best = (f64::INFINITY, 1.0);
    for beta in BETAS {
        let mut err = 0.0;
        for t in (pd..o).step_by(stride) {
            let Some(pos) = hw.pos[t] else { continue };
            if pos.name != name || !complete(pos.occ) || !ctx.y[t].is_finite() {
                continue;
            }
            if let Some(p) = analog_at(ctx, o, t, pd, pos, pd, w, beta) {
                err += (ctx.transform.inv(ctx.y[t]) - ctx.transform.inv(p)).abs();
            }
        }
        if err < best.0 {
            best = (err, beta);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use crest_core::calendar::DayKind;
    use crest_core::{Calendar, Series, Timestamp};

    /// A daily-profile series that drops to 40 % over a named holiday each
    /// year, with a ramp the days before.
    fn series_with_holiday() -> (Series, Calendar) {
        let start = NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
        let mut cal = Calendar::new("t");
        let firsts: Vec<NaiveDate> = [(2010, 2, 13), (2011, 2, 2), (2012, 1, 22), (2013, 2, 9)]
            .iter()
            .map(|(y, m, d)| NaiveDate::from_ymd_opt(*y, *m, *d).unwrap())
            .collect();
        for f in &firsts {
            for k in 0..7 {
                cal.insert(
                    *f + chrono::Days::new(k),
                    DayKind::Holiday {
                        name: "Spring Festival".into(),
                    },
                );
            }
        }
        let days = (NaiveDate::from_ymd_opt(2013, 2, 5).unwrap() - start).num_days() as usize;
        let mut v = Vec::new();
        for d in 0..days {
            let date = start + chrono::Days::new(d as u64);
            let f = firsts
                .iter()
                .map(|f| (date - *f).num_days())
                .min_by_key(|x| x.abs())
                .unwrap();
            v.push(match f {
                -3..=-1 => 1.0 - 0.15 * (4 + f) as f64,
                0..=6 => 0.4,
                _ => 1.0,
            });
        }
        (hourly(start, &v), cal)
    }

    /// An hourly series from `start` with one daily shape (a sine around
    /// 1,000) scaled by each day's level.
    fn hourly(start: NaiveDate, levels: &[f64]) -> Series {
        let v = levels
            .iter()
            .flat_map(|level| {
                (0..24).map(move |s| {
                    1000.0 * level * (1.0 + 0.3 * (s as f64 / 24.0 * std::f64::consts::TAU).sin())
                })
            })
            .collect();
        Series::try_new(
            "x",
            Timestamp::from_naive_utc(&start.and_hms_opt(0, 0, 0).unwrap()),
            3600,
            v,
        )
        .unwrap()
    }

    #[test]
    fn analog_follows_earlier_years_into_the_holiday() {
        let (s, cal) = series_with_holiday();
        let ctx = Context::new(&s, &cal, 48);
        assert_eq!(ctx.windows.names, vec!["Spring Festival".to_string()]);
        // Origin: the end of the data, 2013-02-05 00:00, four days before
        // the 2013 holiday; two days ahead are -4 and -3 days, then the
        // eve ramp. Ask for the day -1 (2013-02-08) from the day before.
        let o = ctx.n;
        let p = Analog::new(&ctx, o).path(&ctx, o, 48);
        assert!(p.iter().all(Option::is_some));
        // Day -4 is ordinary in every year: the analog stays at yesterday's level.
        let y_last = ctx.y[o - 24 + 12];
        assert!((p[12].unwrap().0 - y_last).abs() < 0.02, "{:?}", p[12]);
        // Day -3 drops 15 % in every earlier year: so does the forecast,
        // shrunk by m / (m + 1) with three earlier years.
        let drop = (p[36].unwrap().0 - y_last).exp();
        let want = (0.75 * 0.85f64.ln()).exp();
        assert!((drop - want).abs() < 0.01, "ratio {drop}, want {want}");
        // Ordinary days never move here: every move in the windows is the
        // holiday's, and the analog has the full weight against the models.
        assert!(p.iter().flatten().all(|(_, w)| *w == 1.0), "{p:?}");
    }

    /// Days that wander at random (a storm, a handful of rentals) and a
    /// holiday that does nothing: its windows moved no more than ordinary
    /// days, so the analog (which would copy last year's noise) gets little
    /// weight against the models; give the holiday a real dip and it gets
    /// most of it.
    #[test]
    fn a_holiday_no_different_from_noise_gives_way_to_the_models() {
        let start = date(2010, 1, 1);
        let end = date(2012, 6, 1);
        let mut cal = Calendar::new("t");
        let firsts = [date(2010, 5, 3), date(2011, 5, 2), date(2012, 5, 7)];
        for first in firsts {
            for k in 0..3 {
                cal.insert(
                    first + chrono::Days::new(k),
                    DayKind::Holiday {
                        name: "Labour Day".into(),
                    },
                );
            }
        }
        let mut state = 7u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            0.7 + 0.6 * (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let weight = |dip: f64, noise: &mut dyn FnMut() -> f64| {
            let v: Vec<f64> = start
                .iter_days()
                .take_while(|d| *d < end)
                .map(|d| noise() * if cal.is_holiday(d) { dip } else { 1.0 })
                .collect();
            let s = hourly(start, &v);
            let ctx = Context::new(&s, &cal, 24);
            // Forecast the 2012 holiday's first day off.
            let o = ctx
                .windows
                .day
                .iter()
                .position(|d| *d == date(2012, 5, 7).signed_duration_since(epoch()).num_days());
            let o = o.unwrap();
            let p = Analog::new(&ctx, o).path(&ctx, o, 24);
            p.iter().flatten().map(|(_, w)| *w).next().unwrap()
        };
        let none = weight(1.0, &mut noise);
        assert!(none < 0.3, "a holiday that does nothing: weight {none}");
        let dip = weight(0.3, &mut noise);
        assert!(dip > 0.7, "a holiday that dips 70 %: weight {dip}");
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The analog's forecast of the first day after the data, as a ratio of
    /// the day before: a three-day Mid-Autumn starting on each `first`, its
    /// festival day at `principal` (load 0.5; the other days off 0.9,
    /// every other day 1.0), the data running to `end`.
    fn festival_ratio(periods: &[(NaiveDate, NaiveDate)], end: NaiveDate) -> f64 {
        let start = date(2010, 1, 1);
        let mut cal = Calendar::new("t");
        for (first, principal) in periods {
            for k in 0..3 {
                cal.insert(
                    *first + chrono::Days::new(k),
                    DayKind::Holiday {
                        name: "Mid-Autumn".into(),
                    },
                );
            }
            cal.set_principal_day("Mid-Autumn", *principal);
        }
        let v: Vec<f64> = start
            .iter_days()
            .take_while(|d| *d < end)
            .map(|d| {
                if periods.iter().any(|(_, p)| *p == d) {
                    0.5
                } else if cal.is_holiday(d) {
                    0.9
                } else {
                    1.0
                }
            })
            .collect();
        let s = hourly(start, &v);
        let ctx = Context::new(&s, &cal, 24);
        let o = ctx.n;
        let p = Analog::new(&ctx, o).path(&ctx, o, 24);
        (p[12].unwrap().0 - ctx.y[o - 24 + 12]).exp()
    }

    /// A three-day holiday whose festival day (the dip) is its first day
    /// off in 2010 and its last in 2011 and 2012: the 2012 festival day is
    /// forecast from the earlier festival days, not from whatever day sat
    /// at the same distance from the first day off.
    #[test]
    fn days_off_count_from_the_festival_day() {
        let periods = [
            (date(2010, 9, 22), date(2010, 9, 22)),
            (date(2011, 9, 10), date(2011, 9, 12)),
            (date(2012, 9, 29), date(2012, 10, 1)),
        ];
        // From yesterday (0.9, a day off) toward the festival days' drops
        // (0.9 -> 0.5 in 2011, 1.0 -> 0.5 in 2010), shrunk by 2/3: about
        // 0.65 of yesterday. Anchored on the first day off it would be
        // about 0.82 (2010's third day off did not drop).
        let ratio = festival_ratio(&periods, date(2012, 10, 1));
        assert!(ratio < 0.70, "festival day at {ratio} of the day before");
    }

    /// The first day back after a festival day that was the first day off
    /// in 2010 and 2011 and is the last in 2012: the analog compares it
    /// with the earlier festival days (each followed, days later, by a
    /// full return), not with whatever day preceded the earlier first days
    /// back (the last days off, which hardly dipped).
    #[test]
    fn the_first_day_back_climbs_from_the_festival_day() {
        let periods = [
            (date(2010, 9, 22), date(2010, 9, 22)),
            (date(2011, 9, 10), date(2011, 9, 10)),
            (date(2012, 9, 29), date(2012, 10, 1)),
        ];
        // From the festival day (0.5) by the earlier years' festival day ->
        // first day back (0.5 -> 1.0), shrunk by 2/3: 2^(2/3) = 1.59 of
        // yesterday. From the day before the earlier first days back (0.9
        // -> 1.0) it would be 1.07: a workday forecast as the festival day.
        let ratio = festival_ratio(&periods, date(2012, 10, 2));
        assert!(ratio > 1.4, "first day back at {ratio} of the festival day");
    }

    #[test]
    fn no_window_no_analog() {
        let (s, _) = series_with_holiday();
        let ctx = Context::new(&s, &Calendar::new("none"), 24);
        assert!(
            Analog::new(&ctx, ctx.n)
                .path(&ctx, ctx.n, 24)
                .iter()
                .all(Option::is_none)
        );
    }
}
