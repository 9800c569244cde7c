//! The funnel as one self-contained page, for a person who would rather look than read.
//!
//! One HTML file: inline CSS, the funnel as inline SVG with each bar's width in proportion
//! to its count, the SLA figures beside it, and a table per lead source. No script, no
//! font, no image, no link to anything outside the file: it opens from a mail attachment
//! or a file share as it opens from disk, and every figure is text a screen reader (or
//! `--dump-dom`) reads. Values from the CRM (lead source names) are escaped.

use std::fmt::Write as _;

use super::{Funnel, Part, STAGES, rfc3339};
use crate::engine::sla::human;

/// Bar colours, one per stage: distinct in hue and readable with white text.
const COLOURS: [&str; 6] = [
    "#1d4ed8", "#0e7490", "#15803d", "#a16207", "#c2410c", "#7e22ce",
];

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0;
       background: #f6f7f9; color: #1f2933; }
header { background: #111827; color: #f9fafb; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.5rem; }
header p { margin: 0; color: #d1d5db; }
main { display: flex; flex-wrap: wrap; gap: 1.5rem; padding: 1.5rem 2rem; }
section, aside { background: #fff; border-radius: 8px; padding: 1rem 1.2rem;
                 box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.funnel { flex: 3 1 560px; min-width: 0; }
.funnel svg { width: 100%; height: auto; max-width: 820px; display: block; }
.sla { flex: 1 1 260px; align-self: flex-start; }
h2 { font-size: 1.1rem; margin: 0 0 .8rem 0; }
svg text { font-size: 14px; fill: #1f2933; }
svg text.count { font-weight: 600; }
dl { display: grid; grid-template-columns: auto auto; gap: .45rem 1rem; margin: 0; }
dt { color: #4b5563; }
dd { margin: 0; font-weight: 600; text-align: right; }
dd.bad { color: #b91c1c; }
dd.good { color: #15803d; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid #e5e7eb; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f4f6; }
.sources { margin: 0 2rem 1.5rem 2rem; overflow-x: auto; }
footer { color: #6b7280; font-size: .85rem; padding: 0 2rem 2rem 2rem; }
";

/// The page for `funnel`; `origin` names the state file it was counted from.
pub fn page(funnel: &Funnel, origin: &str) -> String {
    let mut out = String::new();
    let period = format!(
        "{} to {}",
        day(&rfc3339(funnel.since)),
        day(&rfc3339(funnel.until))
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>truce funnel, {period}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>From marketing to sales: the shared funnel</h1>\
         <p>HubSpot contacts qualified from {period}</p></header>\n<main>\n"
    );
    out.push_str("<section class=\"funnel\"><h2>Funnel</h2>\n");
    out.push_str(&svg(&funnel.overall));
    out.push_str(&stage_table(&funnel.overall));
    out.push_str("</section>\n");
    out.push_str(&sla_panel(&funnel.overall));
    out.push_str("</main>\n");
    if !funnel.by_source.is_empty() {
        out.push_str(&sources(funnel));
    }
    let _ = write!(
        out,
        "<footer>Counted by <code>truce funnel</code> from the state file {} \
         (since {}, until {}). A Lead counts as worked once sales first moves it out of \
         its untouched status (or converts it); the SLA figures are the hand-off agreement \
         truce watches.</footer>\n</body>\n</html>\n",
        escape(origin),
        rfc3339(funnel.since),
        rfc3339(funnel.until)
    );
    out
}

/// `2026-01-31T12:00:00Z` as `2026-01-31`.
fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

/// The funnel drawn to scale: each bar as wide as its share of the qualified contacts,
/// centred, so the narrowing reads at a glance.
fn svg(part: &Part) -> String {
    const LABEL_W: f64 = 180.0;
    const BAR_W: f64 = 460.0;
    const ROW_H: f64 = 54.0;
    const BAR_H: f64 = 42.0;
    let width = LABEL_W + BAR_W + 150.0;
    let height = ROW_H * STAGES.len() as f64;
    let top = part.stages.first().map_or(0, |s| s.count).max(1) as f64;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" \
         aria-label=\"The funnel, each bar in proportion to its count\">\n"
    );
    let mut previous: Option<u64> = None;
    for (i, (stage, (_, label))) in part.stages.iter().zip(STAGES).enumerate() {
        let y = ROW_H * i as f64;
        let w = (stage.count as f64 / top * BAR_W).max(if stage.count > 0 { 3.0 } else { 1.0 });
        let x = LABEL_W + (BAR_W - w) / 2.0;
        let middle = y + BAR_H / 2.0 + 5.0;
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR_H}\" rx=\"4\" \
             fill=\"{}\"/>",
            COLOURS[i % COLOURS.len()]
        );
        let _ = writeln!(out, "<text x=\"0\" y=\"{middle:.1}\">{label}</text>");
        let share = match previous {
            Some(before) if before > 0 => {
                format!(" ({})", percent(stage.count as f64 / before as f64))
            }
            _ => String::new(),
        };
        let amount = stage
            .amount
            .filter(|a| *a != 0.0)
            .map(|a| format!(", {}", money(a)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<text class=\"count\" x=\"{:.1}\" y=\"{middle:.1}\">{}{share}{amount}</text>",
            LABEL_W + BAR_W + 10.0,
            stage.count
        );
        previous = Some(stage.count);
    }
    out.push_str("</svg>\n");
    out
}

/// The same figures as a table, for reading and copying.
fn stage_table(part: &Part) -> String {
    let mut out = String::from(
        "<table><thead><tr><th>Stage</th><th>Contacts</th><th>Of the stage before</th>\
         <th>Amount</th></tr></thead><tbody>\n",
    );
    let mut previous: Option<u64> = None;
    for (stage, (_, label)) in part.stages.iter().zip(STAGES) {
        let share = match previous {
            Some(before) if before > 0 => percent(stage.count as f64 / before as f64),
            Some(_) => "–".into(),
            None => String::new(),
        };
        let amount = stage.amount.map(money).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{label}</td><td>{}</td><td>{share}</td><td>{amount}</td></tr>",
            stage.count
        );
        previous = Some(stage.count);
    }
    out.push_str("</tbody></table>\n");
    out
}

/// The SLA figures beside the funnel.
fn sla_panel(part: &Part) -> String {
    let sla = &part.sla;
    let seconds = |s: Option<i64>| s.map_or_else(|| "–".to_string(), |s| human(s * 1000));
    let within = part
        .share_within_sla()
        .map_or_else(|| "–".to_string(), percent);
    let bad = |n: u64| if n > 0 { " class=\"bad\"" } else { "" };
    format!(
        "<aside class=\"sla\"><h2>Hand-off SLA</h2><dl>\n\
         <dt>Worked within the SLA</dt><dd class=\"good\">{}</dd>\n\
         <dt>Share of worked leads within the SLA</dt><dd>{within}</dd>\n\
         <dt>Breached (untouched too long)</dt><dd{}>{}</dd>\n\
         <dt>Discarded untouched</dt><dd{}>{}</dd>\n\
         <dt>Open (waiting, within the SLA)</dt><dd>{}</dd>\n\
         <dt>Median time to first touch</dt><dd>{}</dd>\n\
         <dt>90th percentile time to first touch</dt><dd>{}</dd>\n\
         </dl></aside>\n",
        sla.met,
        bad(sla.breached),
        sla.breached,
        bad(sla.discarded_untouched),
        sla.discarded_untouched,
        sla.open,
        seconds(sla.median_first_touch_s),
        seconds(sla.p90_first_touch_s),
    )
}

/// One row per lead source.
fn sources(funnel: &Funnel) -> String {
    let mut out = String::from(
        "<section class=\"sources\"><h2>By lead source</h2><table><thead><tr><th>Source</th>",
    );
    for (_, label) in STAGES {
        let _ = write!(out, "<th>{label}</th>");
    }
    out.push_str(
        "<th>Won amount</th><th>Met</th><th>Breached</th><th>Discarded untouched</th>\
         <th>Median first touch</th></tr></thead><tbody>\n",
    );
    for (source, part) in &funnel.by_source {
        let _ = write!(out, "<tr><td>{}</td>", escape(source));
        for stage in &part.stages {
            let _ = write!(out, "<td>{}</td>", stage.count);
        }
        let amount = part
            .stages
            .iter()
            .find_map(|s| s.amount)
            .map(money)
            .unwrap_or_default();
        let median = part
            .sla
            .median_first_touch_s
            .map_or_else(|| "–".to_string(), |s| human(s * 1000));
        let _ = writeln!(
            out,
            "<td>{amount}</td><td>{}</td><td>{}</td><td>{}</td><td>{median}</td></tr>",
            part.sla.met, part.sla.breached, part.sla.discarded_untouched
        );
    }
    out.push_str("</tbody></table></section>\n");
    out
}

/// `0.8333` as `83%`.
pub fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// `12345.5` as `12,345.50`.
pub fn money(amount: f64) -> String {
    let cents = (amount.abs() * 100.0).round() as u64;
    let (units, cents) = (cents / 100, cents % 100);
    let digits = units.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0.0 { "-" } else { "" };
    format!("{sign}{grouped}.{cents:02}")
}

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Funnel};
    use super::*;

    #[test]
    fn amounts_and_shares_read_like_a_report() {
        assert_eq!(money(0.0), "0.00");
        assert_eq!(money(1234567.891), "1,234,567.89");
        assert_eq!(money(999.5), "999.50");
        assert_eq!(money(-12.0), "-12.00");
        assert_eq!(percent(2.0 / 3.0), "67%");
    }

    #[test]
    fn the_page_stands_alone_and_escapes_what_the_crm_wrote() {
        let entries = vec![
            Entry {
                source: Some("<script>alert(1)</script>".into()),
                handed_off: true,
                ..Entry::default()
            },
            Entry::default(),
        ];
        let html = page(
            &Funnel::from_entries(0, 86_400_000, &entries),
            "/tmp/t&t.db",
        );
        assert!(html.starts_with("<!DOCTYPE html>"));
        for forbidden in ["<script", "http://", "https://", "src=", "@import", "url("] {
            let outside_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(
                !outside_svg_namespace.contains(forbidden),
                "{forbidden} in the page"
            );
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("/tmp/t&amp;t.db"));
        for (_, label) in STAGES {
            assert!(html.contains(label), "{label}");
        }
        assert_eq!(html.matches("<rect").count(), STAGES.len());
    }
}
