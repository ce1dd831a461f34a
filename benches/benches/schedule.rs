//! Scheduling for a busy organizer (`crates/schedule`): 500 series in Europe/Paris — 300
//! weekly on 1–3 weekdays, 50 daily, 150 monthly; first starts spread over November and
//! December 2026 between 08:00 and 18:00, 30–120 min long, all running to the end of January
//! 2028; every tenth with one occurrence cancelled and one moved — looked at over the calendar
//! year 2027, which holds both DST changes (28 March, 31 October).
//!
//! - `expand_500_series_year`: one iteration is `Series::between(year)` for each of the 500.
//! - `conflicts_new_series_vs_500`: one iteration is `conflicts` for a new weekly series (its
//!   2027 occurrences) and its 5 people against the busy list of the 500 series over the year
//!   (one `Busy` per occurrence and person, built once outside the loop), as the planning
//!   service checks a form when it is saved.
//! - `form_save_expand_and_conflicts`: the whole check as `planning::warnings` does it on a
//!   save (minus the store): the candidate's `all()`, each of the 500 series `between` the
//!   candidate's first start and last end, the busy list built (one `Busy`, with its `String`,
//!   per occurrence and shared person), then `conflicts`.
//! - `month_view`: one iteration is what the month page computes for March 2027: `month_grid`,
//!   the occurrences of the 500 series in the month (`between` month start..end), grouped by
//!   local day, and `lay_out` of each day of the month.
//!
//! The baselines take the year's occurrences of the 500 series, precomputed as a
//! `Vec<(Timestamp, Timestamp)>`, and sum their durations (`baseline_sum_year`) or sort a copy
//! of them (`baseline_sort_year`): the least any calendar must do with that many intervals.
//!
//! Run: `cargo bench -p pont-benches --bench schedule`

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use pont_schedule::jiff::civil::{Date, Time, Weekday, date};
use pont_schedule::jiff::tz::TimeZone;
use pont_schedule::jiff::{SignedDuration, Span, Timestamp};
use pont_schedule::{Busy, Exception, Freq, Rule, Series, conflicts, lay_out, month_grid};

const SERIES: usize = 500;
const PEOPLE: [&str; 5] = [
    "ada@example.org",
    "bob@example.org",
    "chloe@example.org",
    "dan@example.org",
    "eve@example.org",
];
const WORKDAYS: [Weekday; 5] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];

fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").unwrap()
}

/// Midnight of `d` in Paris.
fn midnight(d: Date, tz: &TimeZone) -> Timestamp {
    tz.to_ambiguous_timestamp(d.to_datetime(Time::midnight()))
        .compatible()
        .unwrap()
}

/// Series `i` of the organizer's 500, and the people in it.
fn series(i: usize, tz: &TimeZone) -> (Series, Vec<String>) {
    let first = date(2026, 11, 2)
        .checked_add(Span::new().days((i * 7 % 60) as i64))
        .unwrap();
    let hour = 8 + (i * 3 % 11) as i8;
    let minute = if hour < 18 { (i % 2) as i8 * 30 } else { 0 };
    let duration = SignedDuration::from_mins([30, 45, 60, 90, 120][i % 5]);
    let (freq, weekdays) = match i % 10 {
        0 => (Freq::Daily, Vec::new()),
        1..=3 => (Freq::Monthly, Vec::new()),
        _ => {
            let n = 1 + (i / 10) % 3;
            let days = (0..n).map(|k| WORKDAYS[(i + 2 * k) % 5]).collect();
            (Freq::Weekly, days)
        }
    };
    let mut s = Series {
        start: first.at(hour, minute, 0, 0),
        tz: tz.clone(),
        duration,
        rule: Some(Rule {
            freq,
            weekdays,
            until: date(2028, 1, 31),
        }),
        exceptions: BTreeMap::new(),
    };
    assert_eq!(s.check(), Ok(()), "series {i}");
    if i % 10 == 4 {
        let all = s.all();
        let (a, b) = (all[all.len() / 3], all[all.len() / 2]);
        s.exceptions.insert(a.original_start, Exception::Cancelled);
        s.exceptions.insert(
            b.original_start,
            Exception::Moved {
                start: b.start.checked_add(SignedDuration::from_hours(26)).unwrap(),
                duration,
            },
        );
    }
    let mut people = vec![PEOPLE[0].to_owned(), PEOPLE[1 + i % 4].to_owned()];
    if i.is_multiple_of(3) {
        people.push(PEOPLE[1 + (i + 1) % 4].to_owned());
    }
    (s, people)
}

/// The 500 series over `[from, to)`.
fn expand(all: &[Series], from: Timestamp, to: Timestamp) -> usize {
    let mut n = 0;
    for s in all {
        n += black_box(s.between(from, to)).len();
    }
    n
}

/// The overlap check of a form save, as `planning::warnings` does it: returns the conflicts.
fn form_save(
    candidate: &Series,
    people: &[String],
    all: &[Series],
    people_of: &[Vec<String>],
) -> usize {
    let mine = candidate.all();
    let live = mine.iter().filter(|o| !o.cancelled);
    let (Some(first), Some(last)) = (
        live.clone().map(|o| o.start).min(),
        live.map(|o| o.end).max(),
    ) else {
        return 0;
    };
    let mut busy = Vec::new();
    for (i, (s, theirs)) in all.iter().zip(people_of).enumerate() {
        for o in s.between(first, last) {
            if o.cancelled {
                continue;
            }
            for p in theirs.iter().filter(|p| people.binary_search(p).is_ok()) {
                busy.push(Busy {
                    person: p.clone(),
                    meeting: i as i64,
                    start: o.start,
                    end: o.end,
                });
            }
        }
    }
    conflicts(&mine, people, &busy).len()
}

/// What the month page computes for `year-month`: the grid, the month's occurrences by local
/// day, and the side-by-side layout of each day. Returns the occurrences and columns placed.
fn month_view(all: &[Series], tz: &TimeZone, year: i16, month: i8) -> (usize, usize) {
    let grid = month_grid(year, month);
    let first = date(year, month, 1);
    let from = midnight(first, tz);
    let to = midnight(first.last_of_month().tomorrow().unwrap(), tz);
    let mut days: Vec<Vec<(Timestamp, Timestamp)>> = vec![Vec::new(); 31];
    let mut n = 0;
    for s in all {
        for o in s.between(from, to) {
            let day = tz.to_datetime(o.start).date();
            if day.year() == year && day.month() == month {
                days[day.day() as usize - 1].push((o.start, o.end));
                n += 1;
            }
        }
    }
    let mut columns = 0;
    for week in &grid {
        for d in week
            .iter()
            .filter(|d| d.year() == year && d.month() == month)
        {
            let placed = lay_out(&days[d.day() as usize - 1]);
            columns += placed.iter().map(|p| p.columns).sum::<usize>();
            black_box(&placed);
        }
    }
    black_box(&grid);
    (n, columns)
}

fn bench(c: &mut Criterion) {
    let tz = paris();
    let year_start = midnight(date(2027, 1, 1), &tz);
    let year_end = midnight(date(2028, 1, 1), &tz);
    let (all, people_of): (Vec<Series>, Vec<Vec<String>>) =
        (0..SERIES).map(|i| series(i, &tz)).unzip();

    // The year's occurrences, for the baselines and the busy list.
    let mut intervals: Vec<(Timestamp, Timestamp)> = Vec::new();
    let mut busy: Vec<Busy> = Vec::new();
    for (i, (s, people)) in all.iter().zip(&people_of).enumerate() {
        for o in s.between(year_start, year_end) {
            intervals.push((o.start, o.end));
            if o.cancelled {
                continue;
            }
            for p in people {
                busy.push(Busy {
                    person: p.clone(),
                    meeting: i as i64,
                    start: o.start,
                    end: o.end,
                });
            }
        }
    }
    let occurrences = intervals.len();
    assert!(occurrences > 40_000, "{occurrences} occurrences");
    // Both DST changes are in the window: a 10:00 series is at 09:00Z in January and
    // 08:00Z in July.
    let daily = all[0].between(year_start, year_end);
    assert_eq!(daily.len(), 365);
    let utc_hours: Vec<i8> = [0, 200, 364]
        .iter()
        .map(|&k| daily[k].start.to_zoned_datetime(TimeZone::UTC).hour())
        .collect();
    assert_eq!(utc_hours, [7, 6, 7], "series 0 at 08:00 Paris");

    // The new meeting: Tuesdays and Thursdays at 10:00 for an hour, all of 2027, with all
    // five people.
    let new_series = Series {
        start: date(2027, 1, 5).at(10, 0, 0, 0),
        tz: tz.clone(),
        duration: SignedDuration::from_mins(60),
        rule: Some(Rule {
            freq: Freq::Weekly,
            weekdays: vec![Weekday::Tuesday, Weekday::Thursday],
            until: date(2027, 12, 31),
        }),
        exceptions: BTreeMap::new(),
    };
    let candidate = new_series.all();
    let people: Vec<String> = PEOPLE.iter().map(|p| (*p).to_owned()).collect();
    let found = conflicts(&candidate, &people, &busy);
    assert!(!found.is_empty() && found.len() < busy.len());

    assert_eq!(
        form_save(&new_series, &people, &all, &people_of),
        found.len()
    );
    let expanded: usize = all.iter().map(|s| s.all().len()).sum();

    let (month_occurrences, _) = month_view(&all, &tz, 2027, 3);
    assert!(month_occurrences > 2_000, "{month_occurrences} in March");

    println!(
        "schedule: {SERIES} series, {expanded} occurrences in all ({occurrences} in 2027), {} busy entries, \
         candidate {} occurrences, {} conflicts, {month_occurrences} occurrences in March 2027",
        busy.len(),
        candidate.len(),
        found.len()
    );

    let mut g = c.benchmark_group("schedule_500_series");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(occurrences as u64));
    g.bench_function("baseline_sum_year", |b| {
        b.iter(|| {
            black_box(&intervals)
                .iter()
                .map(|(s, e)| e.as_second() - s.as_second())
                .sum::<i64>()
        })
    });
    g.bench_function("baseline_sort_year", |b| {
        b.iter_batched(
            || intervals.clone(),
            |mut v| {
                v.sort_unstable();
                v
            },
            BatchSize::LargeInput,
        )
    });
    assert_eq!(expand(&all, year_start, year_end), occurrences);
    g.bench_function("expand_500_series_year", |b| {
        b.iter(|| expand(black_box(&all), year_start, year_end))
    });
    g.bench_function("conflicts_new_series_vs_500", |b| {
        b.iter(|| conflicts(black_box(&candidate), &people, black_box(&busy)))
    });
    g.bench_function("form_save_expand_and_conflicts", |b| {
        b.iter(|| form_save(black_box(&new_series), &people, black_box(&all), &people_of))
    });
    g.throughput(Throughput::Elements(month_occurrences as u64));
    g.bench_function("month_view", |b| {
        b.iter(|| month_view(black_box(&all), &tz, 2027, 3))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
