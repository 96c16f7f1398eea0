//! The page's charts, drawn as SVG in Rust: the phases as a band on a time axis with releases
//! and milestones, monthly bars, and the storylines on the same axis. Every mark carries a
//! `<title>` (what a pointer shows and a screen reader reads) — but more than ten years of
//! monthly bars are one outline, and close releases share a mark — and each chart an
//! `aria-label`; the page shows the same figures as tables too. Sizes are in a 1000-unit-wide `viewBox` the
//! stylesheet scales to the page's width.

use maud::{Markup, html};

use gitview_core::story::grouped;

use crate::escape::{Text, fragment};
use crate::markdown::to_plain;
use crate::{Milestone, Month, Phase, Release, StorylineSpan};

/// The charts' width in `viewBox` units.
pub const WIDTH: f64 = 1000.0;

/// Maps times (seconds since the epoch) onto `x0..x1`.
#[derive(Clone, Copy, Debug)]
pub struct TimeScale {
    t0: i64,
    t1: i64,
    x0: f64,
    x1: f64,
}

impl TimeScale {
    /// A scale over `t0..=t1` (widened by a day when they are equal).
    pub fn new(t0: i64, t1: i64, x0: f64, x1: f64) -> Self {
        let t1 = if t1 > t0 { t1 } else { t0 + 86_400 };
        Self { t0, t1, x0, x1 }
    }

    /// Where `t` falls.
    pub fn x(&self, t: i64) -> f64 {
        let span = (self.t1 - self.t0) as f64;
        let at = (t.clamp(self.t0, self.t1) - self.t0) as f64;
        self.x0 + (self.x1 - self.x0) * at / span
    }
}

/// A coordinate as SVG writes it: one decimal.
fn n(value: f64) -> String {
    format!("{value:.1}")
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a time (UTC).
pub fn year_of(t: i64) -> i64 {
    let days = t.div_euclid(86_400);
    let mut year = 1970 + days.div_euclid(365);
    while days_from_civil(year, 1, 1) > days {
        year -= 1;
    }
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    year
}

/// Year ticks between `t0` and `t1`: at most about a dozen labels.
fn year_axis(scale: &TimeScale, t0: i64, t1: i64, y: f64) -> Markup {
    let (first, last) = (year_of(t0), year_of(t1));
    let step = ((last - first) / 12 + 1).max(1);
    html! {
        g.axis {
            line x1=(n(scale.x(t0))) x2=(n(scale.x(t1))) y1=(n(y)) y2=(n(y)) {}
            @for year in (first + 1)..=last {
                @let at = scale.x(days_from_civil(year, 1, 1) * 86_400);
                line x1=(n(at)) x2=(n(at)) y1=(n(y)) y2=(n(y + 4.0)) {}
                @if (year - first - 1) % step == 0 {
                    text x=(n(at)) y=(n(y + 16.0)) text-anchor="middle" { (year) }
                }
            }
        }
    }
}

/// The phases as a band, releases as ticks above it, milestones as dots below; each phase
/// links to its section of the story (`section`: the fragment of phase N's, if the page has
/// one), each milestone and release to its commit when the page lists it (`link`).
pub fn phase_band(
    phases: &[Phase],
    releases: &[Release],
    milestones: &[Milestone],
    section: &dyn Fn(usize) -> Option<String>,
    link: &dyn Fn(&str) -> Option<String>,
) -> Markup {
    let (Some(first), Some(last)) = (phases.first(), phases.last()) else {
        return html! {};
    };
    let (t0, t1) = (first.start_time, last.end_time.max(first.start_time));
    let scale = TimeScale::new(t0, t1, 10.0, WIDTH - 10.0);
    // Releases closer than RELEASE_GAP share a mark (a long history has hundreds, which would
    // draw as one smear and weigh more than the rest of the chart): the first one's, titled
    // with all their names.
    let mut marks: Vec<(f64, Vec<&Release>)> = Vec::new();
    for release in releases {
        let x = scale.x(release.time);
        match marks.last_mut() {
            Some((at, group)) if (x - *at).abs() < RELEASE_GAP => group.push(release),
            _ => marks.push((x, vec![release])),
        }
    }
    // Release names where there is room for them (at least 70 units from the last label).
    let mut last_label = f64::NEG_INFINITY;
    let labelled: Vec<bool> = marks
        .iter()
        .map(|(x, _)| {
            let room = x - last_label >= 70.0;
            if room {
                last_label = *x;
            }
            room
        })
        .collect();
    html! {
        svg.chart.band viewBox=(format!("0 0 {WIDTH} 150")) role="group"
            aria-label=(format!("{} phases from {} to {}, {} releases, {} milestones",
                phases.len(), first.start, last.end, releases.len(), milestones.len())) {
            @for ((x, group), &label) in marks.iter().zip(&labelled) {
                @let release = group[0];
                (linked(link(&release.commit), html! {
                    g.release {
                        title {
                            @if group.len() == 1 { "Release " } @else { "Releases " }
                            @for (i, r) in group.iter().enumerate() {
                                @if i > 0 { ", " }
                                (Text(&r.name))
                            }
                        }
                        line x1=(n(*x)) x2=(n(*x)) y1="34" y2="46" {}
                        @if label {
                            text x=(n(*x)) y="28" text-anchor="middle" { (Text(&short_label(&release.name))) }
                        }
                    }
                }))
            }
            @for phase in phases {
                @let x = scale.x(phase.start_time);
                @let w = (scale.x(phase.end_time) - x).max(3.0);
                (linked(section(phase.number), html! {
                    g class=(format!("phase p{}", phase.number % 2)) {
                        title { "Phase " (phase.number) ". " (Text(&phase.name)) " (" (phase.start) " to " (phase.end) "): "
                            (plural(phase.commits, "commit")) " by " (plural(phase.authors, "author")) }
                        rect x=(n(x)) y="48" width=(n(w)) height="40" {}
                        @if w >= 18.0 {
                            text x=(n(x + w / 2.0)) y="73" text-anchor="middle" { (phase.number) }
                        }
                    }
                }))
            }
            @for milestone in milestones {
                @let x = scale.x(milestone.time);
                (linked(milestone.commit.as_deref().and_then(link), html! {
                    g.milestone {
                        title { (milestone.date) ": " (maud::PreEscaped(to_plain(&milestone.text))) }
                        circle cx=(n(x)) cy="102" r="5" {}
                    }
                }))
            }
            (year_axis(&scale, t0, t1, 120.0))
        }
    }
}

/// Releases closer than this (in `viewBox` units) share one mark on the phase band.
pub const RELEASE_GAP: f64 = 8.0;

/// Months beyond which the monthly bars are one path per chart rather than a titled `<rect>`
/// each: ten years of months would weigh more than the rest of the page's charts together, and
/// the table below the charts has every month's figures.
pub const TITLED_MONTHS: usize = 120;

/// `12 commits`, `1 commit`.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", grouped(count))
    }
}

/// A tag as a tick label: at most 12 characters.
fn short_label(name: &str) -> String {
    let mut chars = name.chars();
    let head: String = chars.by_ref().take(12).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

fn linked(target: Option<String>, inner: Markup) -> Markup {
    match target {
        Some(target) => html! { a href=(format!("#{target}")) { (inner) } },
        None => inner,
    }
}

/// One monthly figure as bars: `value` picks it, `describe` writes a bar's title.
pub fn monthly_bars(
    months: &[Month],
    label: &str,
    value: &dyn Fn(&Month) -> u64,
    describe: &dyn Fn(&Month) -> String,
) -> Markup {
    let max = months.iter().map(value).max().unwrap_or(0).max(1);
    let height = 80.0;
    let step = WIDTH / months.len().max(1) as f64;
    let gap = if step > 4.0 { 1.0 } else { 0.0 };
    html! {
        svg.chart.bars viewBox=(format!("0 0 {WIDTH} {}", height + 18.0)) role="group"
            aria-label=(format!("{label} per month, {} to {}; at most {}",
                months.first().map_or("", |m| m.month.as_str()),
                months.last().map_or("", |m| m.month.as_str()), grouped(max))) {
            @if months.len() <= TITLED_MONTHS {
                @for (i, month) in months.iter().enumerate() {
                    @let h = height * value(month) as f64 / max as f64;
                    rect x=(n(i as f64 * step)) y=(n(height - h)) width=(n((step - gap).max(0.5))) height=(n(h.max(0.0))) {
                        title { (Text(&describe(month))) }
                    }
                }
            } @else {
                path d=(bars_path(months, value, max, height, step)) {}
            }
            g.axis {
                line x1="0" x2=(n(WIDTH)) y1=(n(height)) y2=(n(height)) {}
                @if let Some(first) = months.first() {
                    text x="0" y=(n(height + 14.0)) { (Text(&first.month)) }
                }
                @if let Some(last) = months.last() {
                    text x=(n(WIDTH)) y=(n(height + 14.0)) text-anchor="end" { (Text(&last.month)) }
                }
                text.max x=(n(WIDTH)) y="10" text-anchor="end" { (label) ": at most " (grouped(max)) }
            }
        }
    }
}

/// Bars as one path: the outline of the bars side by side (a step each month), closed along
/// the axis; about ten bytes a month.
fn bars_path(
    months: &[Month],
    value: &dyn Fn(&Month) -> u64,
    max: u64,
    height: f64,
    step: f64,
) -> String {
    use std::fmt::Write as _;
    let mut d = String::with_capacity(months.len() * 12);
    let _ = write!(d, "M0 {}", n(height));
    let mut level = n(height);
    for (i, month) in months.iter().enumerate() {
        let top = n(height - height * value(month) as f64 / max as f64);
        if top != level {
            let _ = write!(d, "V{top}");
            level = top;
        }
        let _ = write!(d, "H{}", n((i + 1) as f64 * step));
    }
    let _ = write!(d, "V{}Z", n(height));
    d
}

/// The storylines as bars on the history's time axis, one row each, linked to their first
/// commits.
pub fn storyline_lanes(
    storylines: &[StorylineSpan],
    t0: i64,
    t1: i64,
    link: &dyn Fn(&str) -> Option<String>,
) -> Markup {
    if storylines.is_empty() {
        return html! {};
    }
    let row = 18.0;
    let top = 4.0;
    let height = top + row * storylines.len() as f64 + 24.0;
    let scale = TimeScale::new(t0, t1, 300.0, WIDTH - 10.0);
    html! {
        svg.chart.lanes viewBox=(format!("0 0 {WIDTH} {}", n(height))) role="group"
            aria-label=(format!("{} storylines over time", storylines.len())) {
            @for (i, s) in storylines.iter().enumerate() {
                @let y = top + row * i as f64;
                @let x = scale.x(s.first_time);
                @let w = (scale.x(s.last_time) - x).max(3.0);
                (linked(link(&s.first_commit), html! {
                    g class=(format!("lane cat-{}", fragment(&s.category))) {
                        title { (Text(&s.title)) " — " (Text(&s.category)) ", " (Text(&s.lifecycle)) ", "
                            (plural(s.commits, "commit")) }
                        text x="290" y=(n(y + 12.0)) text-anchor="end" { (Text(&short_title(&s.title))) }
                        rect x=(n(x)) y=(n(y + 2.0)) width=(n(w)) height=(n(row - 5.0)) {}
                    }
                }))
            }
            (year_axis(&scale, t0, t1, height - 22.0))
        }
    }
}

fn short_title(title: &str) -> String {
    let mut chars = title.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// A sparkline of `counts` (commits per month, oldest first, the last ending in `last`,
/// `YYYY-MM`): one bar a month, the tallest the full height, with the figures as its text
/// alternative.
pub fn sparkline(counts: &[u32], last: &str) -> Markup {
    let (w, h, gap) = (5.0, 18.0, 1.0);
    let top = f64::from(counts.iter().copied().max().unwrap_or(0).max(1));
    let width = counts.len() as f64 * (w + gap);
    let mut d = String::new();
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let height = (f64::from(count) / top * h).max(1.0);
        d.push_str(&format!(
            "M{} {}h{}v{}h-{}Z",
            n(i as f64 * (w + gap)),
            n(h - height),
            n(w),
            n(height),
            n(w)
        ));
    }
    let figures: Vec<String> = counts.iter().map(u32::to_string).collect();
    let label = format!(
        "Commits in each of the {} months to {last}: {}",
        counts.len(),
        figures.join(", ")
    );
    html! {
        svg.spark width=(n(width)) height=(n(h)) viewBox={ "0 0 " (n(width)) " " (n(h)) } role="img" aria-label=(label) {
            title { (label) }
            @if !d.is_empty() { path d=(d) {} }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_sparkline_scales_to_its_tallest_month_and_says_its_figures() {
        let spark = sparkline(&[0, 2, 4], "2024-03").into_string();
        assert!(
            spark.contains("aria-label=\"Commits in each of the 3 months to 2024-03: 0, 2, 4\""),
            "{spark}"
        );
        assert!(
            spark.contains("M6.0 9.0h5.0v9.0h-5.0Z"),
            "half height: {spark}"
        );
        assert!(
            spark.contains("M12.0 0.0h5.0v18.0h-5.0Z"),
            "full height: {spark}"
        );
        assert!(
            !sparkline(&[0, 0], "2024-03")
                .into_string()
                .contains("<path")
        );
    }
    use super::*;

    #[test]
    fn civil_dates_and_years() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(946_684_799), 1999);
        assert_eq!(year_of(946_684_800), 2000);
        assert_eq!(year_of(-1), 1969);
    }

    #[test]
    fn a_scale_maps_the_ends() {
        let scale = TimeScale::new(100, 200, 0.0, 10.0);
        assert_eq!(scale.x(100), 0.0);
        assert_eq!(scale.x(150), 5.0);
        assert_eq!(scale.x(999), 10.0);
        // One instant still has room.
        assert!(TimeScale::new(5, 5, 0.0, 10.0).x(5).is_finite());
    }

    #[test]
    fn every_bar_has_a_title() {
        let months: Vec<Month> = (1..=3)
            .map(|m| Month {
                month: format!("2024-0{m}"),
                commits: m,
                ..Month::default()
            })
            .collect();
        let svg = monthly_bars(&months, "commits", &|m| m.commits, &|m| {
            format!("{}: {} commits", m.month, m.commits)
        })
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>2024-03: 3 commits</title>"));
    }

    #[test]
    fn a_long_history_s_bars_are_one_path_and_close_releases_share_a_mark() {
        let months: Vec<Month> = (0..=TITLED_MONTHS as u64)
            .map(|i| Month {
                month: format!("m{i}"),
                commits: i % 3,
                ..Month::default()
            })
            .collect();
        let svg =
            monthly_bars(&months, "commits", &|m| m.commits, &|m| m.month.clone()).into_string();
        assert_eq!(
            (svg.matches("<rect").count(), svg.matches("<path").count()),
            (0, 1)
        );
        // A step a month, from the axis back to it.
        assert_eq!(svg.matches('H').count(), months.len(), "{svg}");
        assert!(
            svg.contains("d=\"M0 80.0H8.3V40.0H16.5V0.0H24.8V80.0H33.1"),
            "{svg}"
        );
        assert!(svg.contains("V80.0Z\""), "{svg}");

        let day = 86_400;
        let phases = [Phase {
            number: 1,
            start_time: 0,
            end_time: 1000 * day,
            ..Phase::default()
        }];
        let release = |name: &str, time: i64| Release {
            name: name.into(),
            time,
            commit: name.into(),
        };
        let releases = [
            release("v1.0", 100 * day),
            release("v1.0.1", 102 * day),
            release("v2.0", 500 * day),
        ];
        let svg = phase_band(&phases, &releases, &[], &|_| None, &|_| None).into_string();
        assert_eq!(svg.matches("class=\"release\"").count(), 2, "{svg}");
        assert!(svg.contains("<title>Releases v1.0, v1.0.1</title>"));
        assert!(svg.contains("<title>Release v2.0</title>"));
    }

    #[test]
    fn hostile_names_in_charts_are_text() {
        let phases = [Phase {
            number: 1,
            name: "<script>alert(1)</script>".into(),
            start_time: 0,
            end_time: 86_400 * 400,
            ..Phase::default()
        }];
        let releases = [Release {
            name: "\"><img onerror=x>".into(),
            time: 86_400,
            commit: "abc".into(),
        }];
        let svg = phase_band(&phases, &releases, &[], &|_| None, &|_| None).into_string();
        assert!(!svg.contains("<script") && !svg.contains("<img"));
        assert!(svg.contains("&lt;script&gt;"));
    }
}
