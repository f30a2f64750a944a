//! Keeps a table in docs/SEMANTICS.md equal to the code that defines it, for the tests that
//! generate such tables (the errno table here, the operation table in weka-s3).
//!
//! A table lives between `<!-- NAME begin -->` and `<!-- NAME end -->` lines. With
//! `WEKAD_BLESS` set in the environment the document is rewritten instead of compared.
//! Only tests call this; it reads and writes the workspace's docs, nothing else.

use std::path::Path;

/// The workspace's docs/SEMANTICS.md (weka-fs and weka-s3 are both one level below it).
fn document() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SEMANTICS.md"))
}

/// Compares the table `name` of docs/SEMANTICS.md with `table` (or, under `WEKAD_BLESS`,
/// writes `table` there). The error says what differs and how to update the document.
pub fn check_table(name: &str, table: &str) -> Result<(), String> {
    let path = document();
    let doc = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (begin, end) = (
        format!("<!-- {name} begin -->\n"),
        format!("<!-- {name} end -->"),
    );
    let start = doc
        .find(&begin)
        .ok_or_else(|| format!("no `{}` marker in {}", begin.trim_end(), path.display()))?
        + begin.len();
    let stop = doc
        .find(&end)
        .ok_or_else(|| format!("no `{end}` marker in {}", path.display()))?;
    if std::env::var_os("WEKAD_BLESS").is_some() {
        let updated = format!("{}{table}{}", &doc[..start], &doc[stop..]);
        return std::fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()));
    }
    let current = doc.get(start..stop).unwrap_or("(markers out of order)\n");
    if current == table {
        return Ok(());
    }
    let (line, (doc_line, code_line)) = current
        .lines()
        .chain(std::iter::repeat("(end)"))
        .zip(table.lines().chain(std::iter::repeat("(end)")))
        .enumerate()
        .find(|(_, (d, c))| d != c)
        .unwrap_or((0, ("", "")));
    Err(format!(
        "the {name} in {} differs from the code at its line {}; run the test with WEKAD_BLESS=1 to update it\n  document: {doc_line}\n  code:     {code_line}",
        path.display(),
        line + 1
    ))
}
