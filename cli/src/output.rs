//! Rendering of command results: WEKA-style tables (view, csv, markdown) or JSON.
//!
//! A list is a sequence of JSON objects (the wire entries); the table options pick, filter
//! and sort columns by name. Cells render the same way in every format so `-F col=val`
//! matches what the user sees. Times print in local time (the TZ environment variable, as
//! WEKA's CLI does) with their UTC offset, or in UTC with `-U`. No I/O besides the returned
//! string.

use clap::{Args, ValueEnum};
use comfy_table::presets::{ASCII_MARKDOWN, NOTHING};
use comfy_table::{ContentArrangement, Table};
use serde_json::{Map, Value};

/// Output format of list commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    View,
    Csv,
    Markdown,
    Json,
}

/// WEKA's options of every list command.
#[derive(Debug, Clone, Args, Default)]
pub struct ListOpts {
    /// Output format
    #[arg(short = 'f', long = "format", value_enum)]
    pub format: Option<Format>,
    /// Columns to show, comma separated
    #[arg(short = 'o', long = "output", value_delimiter = ',')]
    pub output: Vec<String>,
    /// Sort by column: `col` or `+col` ascending, `-col` descending (repeatable)
    #[arg(short = 's', long = "sort", allow_hyphen_values = true)]
    pub sort: Vec<String>,
    /// Keep rows where column equals value: `col=val` (repeatable)
    #[arg(short = 'F', long = "filter")]
    pub filter: Vec<String>,
    /// Do not print the header line
    #[arg(long = "no-header")]
    pub no_header: bool,
    /// Show all columns
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Print sizes as raw byte counts
    #[arg(short = 'R', long = "raw-units")]
    pub raw_units: bool,
    /// Print times in UTC (default: local time, with its offset from UTC)
    #[arg(short = 'U', long = "UTC")]
    pub utc: bool,
}

/// How a column's values are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bytes,
    Time,
}

/// A column: its name (as in `-o`), header, kind, and whether it shows without `-v`.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub header: &'static str,
    pub kind: Kind,
    pub default: bool,
}

impl Column {
    pub const fn text(name: &'static str, header: &'static str) -> Column {
        Column {
            name,
            header,
            kind: Kind::Text,
            default: true,
        }
    }
    pub const fn bytes(name: &'static str, header: &'static str) -> Column {
        Column {
            name,
            header,
            kind: Kind::Bytes,
            default: true,
        }
    }
    pub const fn extra(name: &'static str, header: &'static str, kind: Kind) -> Column {
        Column {
            name,
            header,
            kind,
            default: false,
        }
    }
}

/// Renders `rows` (JSON objects) per `opts`; `json` forces JSON output (`-J`).
pub fn render_list(
    columns: &[Column],
    rows: Vec<Map<String, Value>>,
    opts: &ListOpts,
    json: bool,
) -> Result<String, String> {
    let cols = select_columns(columns, opts)?;
    let mut rows = filter_rows(columns, rows, opts)?;
    sort_rows(columns, &mut rows, opts)?;
    let format = if json {
        Format::Json
    } else {
        opts.format.unwrap_or(Format::View)
    };
    let cells = |row: &Map<String, Value>| {
        cols.iter()
            .map(|c| cell(c, row.get(c.name), opts))
            .collect::<Vec<_>>()
    };
    Ok(match format {
        Format::Json => json_rows(&cols, &rows, opts),
        Format::Csv => csv(&cols, rows.iter().map(cells), opts.no_header),
        Format::View | Format::Markdown => table(
            &cols,
            rows.iter().map(cells),
            opts.no_header,
            format == Format::Markdown,
        ),
    })
}

fn select_columns(columns: &[Column], opts: &ListOpts) -> Result<Vec<Column>, String> {
    if opts.output.is_empty() {
        return Ok(columns
            .iter()
            .filter(|c| c.default || opts.verbose)
            .copied()
            .collect());
    }
    opts.output
        .iter()
        .map(|name| find_column(columns, name))
        .collect()
}

fn find_column(columns: &[Column], name: &str) -> Result<Column, String> {
    columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = columns.iter().map(|c| c.name).collect();
            format!("unknown column `{name}`; columns are: {}", known.join(", "))
        })
}

fn filter_rows(
    columns: &[Column],
    rows: Vec<Map<String, Value>>,
    opts: &ListOpts,
) -> Result<Vec<Map<String, Value>>, String> {
    let mut filters = Vec::new();
    for f in &opts.filter {
        let (name, want) = f
            .split_once('=')
            .ok_or_else(|| format!("filter `{f}` must be col=value"))?;
        filters.push((find_column(columns, name)?, want.to_owned()));
    }
    Ok(rows
        .into_iter()
        .filter(|row| {
            filters.iter().all(|(c, want)| {
                cell(c, row.get(c.name), opts) == *want || raw(row.get(c.name)) == *want
            })
        })
        .collect())
}

fn sort_rows(
    columns: &[Column],
    rows: &mut [Map<String, Value>],
    opts: &ListOpts,
) -> Result<(), String> {
    let mut keys = Vec::new();
    for s in &opts.sort {
        let (desc, name) = match s.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        keys.push((find_column(columns, name)?, desc));
    }
    for (col, desc) in keys.iter().rev() {
        rows.sort_by(|a, b| {
            let ord = compare(a.get(col.name), b.get(col.name));
            if *desc {
                ord.reverse()
            } else {
                ord
            }
        });
    }
    Ok(())
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(Value::as_f64), b.and_then(Value::as_f64)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => raw(a).cmp(&raw(b)),
    }
}

/// The raw text of a value (no units).
fn raw(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().map(|v| raw(Some(v))).collect::<Vec<_>>().join(","),
        Some(other) => other.to_string(),
    }
}

/// The displayed text of a cell.
fn cell(col: &Column, v: Option<&Value>, opts: &ListOpts) -> String {
    match (col.kind, v) {
        (_, None | Some(Value::Null)) => "-".into(),
        (Kind::Bytes, Some(Value::Number(n))) if !opts.raw_units => n
            .as_u64()
            .map(|b| bytesize::ByteSize::b(b).to_string())
            .unwrap_or_else(|| n.to_string()),
        (Kind::Time, Some(Value::Number(n))) => n
            .as_i64()
            .and_then(|secs| format_time(secs, opts.utc))
            .unwrap_or_else(|| n.to_string()),
        (_, v) => raw(v),
    }
}

/// A Unix time in UTC (`-U`) or in local time; `None` if it cannot be shown as a date.
fn format_time(secs: i64, utc: bool) -> Option<String> {
    let offset = if utc { 0 } else { local_offset(secs)? };
    rfc3339_at(secs, offset)
}

/// The local time zone's offset from UTC, in seconds east, at the instant `secs`
/// (daylight saving time depends on the instant). The zone is the C library's: `TZ`, else
/// `/etc/localtime`.
fn local_offset(secs: i64) -> Option<i64> {
    let t: libc::time_t = secs;
    // SAFETY: `libc::tm` holds only integers and a nullable `tm_zone` pointer, for which
    // all-zero bytes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned locals; `localtime_r` writes only
    // `tm` and keeps no pointer to either.
    let filled = unsafe { libc::localtime_r(&t, &mut tm) };
    if filled.is_null() {
        return None;
    }
    Some(tm.tm_gmtoff)
}

/// RFC 3339 with whole seconds at `offset` seconds east of UTC: `2026-12-04T16:00:54Z` for
/// UTC, `2026-12-04T21:30:54+05:30` otherwise (the wall clock there, and its offset).
fn rfc3339_at(secs: i64, offset: i64) -> Option<String> {
    let wall = u64::try_from(secs.checked_add(offset)?).ok()?;
    let t = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(wall))?;
    let text = humantime::format_rfc3339_seconds(t).to_string();
    if offset == 0 {
        return Some(text);
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    Some(format!(
        "{}{sign}{:02}:{:02}",
        text.strip_suffix('Z')?,
        minutes / 60,
        minutes % 60
    ))
}

fn json_rows(cols: &[Column], rows: &[Map<String, Value>], opts: &ListOpts) -> String {
    let picked: Vec<Value> = if opts.output.is_empty() {
        rows.iter().cloned().map(Value::Object).collect()
    } else {
        rows.iter()
            .map(|r| {
                Value::Object(
                    cols.iter()
                        .map(|c| {
                            (
                                c.name.to_owned(),
                                r.get(c.name).cloned().unwrap_or(Value::Null),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    };
    pretty(&Value::Array(picked))
}

fn csv(cols: &[Column], rows: impl Iterator<Item = Vec<String>>, no_header: bool) -> String {
    let mut out = String::new();
    if !no_header {
        out.push_str(
            &cols
                .iter()
                .map(|c| csv_field(c.name))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    for row in rows {
        out.push_str(
            &row.iter()
                .map(|s| csv_field(s))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn table(
    cols: &[Column],
    rows: impl Iterator<Item = Vec<String>>,
    no_header: bool,
    markdown: bool,
) -> String {
    let mut t = Table::new();
    t.load_preset(if markdown { ASCII_MARKDOWN } else { NOTHING });
    t.set_content_arrangement(ContentArrangement::Disabled);
    if !no_header {
        t.set_header(cols.iter().map(|c| c.header));
    }
    for row in rows {
        t.add_row(row);
    }
    let mut s: String = t.lines().map(|l| l.trim_end().to_owned() + "\n").collect();
    if s.is_empty() && !no_header {
        s.push('\n');
    }
    s
}

/// Pretty JSON with a trailing newline.
pub fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

/// Serializes wire entries into JSON objects for `render_list`.
pub fn to_rows<T: serde::Serialize>(items: &[T]) -> Vec<Map<String, Value>> {
    items
        .iter()
        .filter_map(|i| match serde_json::to_value(i) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLS: [Column; 2] = [Column::text("name", "NAME"), Column::bytes("hard", "HARD")];

    fn rows() -> Vec<Map<String, Value>> {
        let a = json!({"name": "b", "hard": 2048});
        let b = json!({"name": "a", "hard": null});
        [a, b]
            .into_iter()
            .filter_map(|v| v.as_object().cloned())
            .collect()
    }

    #[test]
    fn csv_output_sorts_descending_and_skips_header_on_request() {
        let opts = ListOpts {
            format: Some(Format::Csv),
            sort: vec!["-name".into()],
            no_header: true,
            raw_units: true,
            ..ListOpts::default()
        };
        assert_eq!(
            render_list(&COLS, rows(), &opts, false).unwrap(),
            "b,2048\na,-\n"
        );
    }

    #[test]
    fn filter_keeps_only_matching_rows_and_unknown_columns_are_named() {
        let opts = ListOpts {
            format: Some(Format::Csv),
            filter: vec!["name=a".into()],
            ..ListOpts::default()
        };
        assert_eq!(
            render_list(&COLS, rows(), &opts, false).unwrap(),
            "name,hard\na,-\n"
        );
        let bad = ListOpts {
            output: vec!["nope".into()],
            ..ListOpts::default()
        };
        assert!(render_list(&COLS, rows(), &bad, false)
            .unwrap_err()
            .contains("nope"));
    }

    #[test]
    fn times_print_with_the_offset_of_their_zone() {
        let secs = 1_764_864_054; // 2025-12-04T16:00:54Z
        assert_eq!(rfc3339_at(secs, 0).unwrap(), "2025-12-04T16:00:54Z");
        assert_eq!(
            rfc3339_at(secs, 5 * 3600 + 1800).unwrap(),
            "2025-12-04T21:30:54+05:30"
        );
        assert_eq!(
            rfc3339_at(secs, -8 * 3600).unwrap(),
            "2025-12-04T08:00:54-08:00"
        );
        assert_eq!(rfc3339_at(10, -3600), None);
    }

    #[test]
    fn utc_flag_prints_time_columns_in_utc() {
        const TIMES: [Column; 1] = [Column::extra("created", "CREATED", Kind::Time)];
        let rows = vec![json!({"created": 1_764_864_054})
            .as_object()
            .cloned()
            .unwrap()];
        let opts = ListOpts {
            format: Some(Format::Csv),
            output: vec!["created".into()],
            no_header: true,
            utc: true,
            ..ListOpts::default()
        };
        assert_eq!(
            render_list(&TIMES, rows.clone(), &opts, false).unwrap(),
            "2025-12-04T16:00:54Z\n"
        );
        let filtered = ListOpts {
            filter: vec!["created=2025-12-04T16:00:54Z".into()],
            ..opts
        };
        assert_eq!(
            render_list(&TIMES, rows, &filtered, false).unwrap(),
            "2025-12-04T16:00:54Z\n"
        );
    }

    #[test]
    fn view_output_humanizes_bytes_unless_raw() {
        let out = render_list(&COLS, rows(), &ListOpts::default(), false).unwrap();
        assert!(out.contains("NAME"), "{out}");
        assert!(out.contains("KiB") || out.contains("KB"), "{out}");
    }
}
