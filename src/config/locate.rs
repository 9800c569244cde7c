//! Finding keys in the config text, so every problem can name its key and line.
//!
//! serde sees values, not positions; toml's span-keeping parser sees positions. These
//! helpers walk the spanned tree both ways: from a dotted key path to its line (for problems
//! found after parsing) and from a byte offset to the key path around it (for serde's errors,
//! whose span may point at a key or at a value).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A table key.
    Key(&'a str),
    /// An element of an array (of tables).
    Index(usize),
}

/// The 1-based line of a byte offset.
pub fn line_of_offset(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line of the key at `path` (the key itself, or the element for an array index).
pub fn line_of(source: &str, path: &[Step<'_>]) -> Option<usize> {
    let root = DeTable::parse(source).ok()?;
    let mut table = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    let mut start = None;
    for step in path {
        let next = match step {
            Step::Key(name) => {
                let (key, value) = table?.iter().find(|(key, _)| key.get_ref() == name)?;
                start = Some(key.span().start);
                value
            }
            Step::Index(i) => {
                let value = array?.get(*i)?;
                start = Some(value.span().start);
                value
            }
        };
        table = next.get_ref().as_table();
        array = next.get_ref().as_array().map(|items| &items[..]);
    }
    start.map(|offset| line_of_offset(source, offset))
}

/// The dotted key path (`sync.poll_interval`, `field[2].rule`) of the key or value at a
/// byte offset.
pub fn path_at(source: &str, offset: usize) -> Option<String> {
    let root = DeTable::parse(source).ok()?;
    search_table(root.get_ref(), offset, "")
}

// Table spans do not always cover their bodies (a `[sync]` section's keys follow its
// header), so this searches every key rather than descending by span.
fn search_table(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        search_value(value, offset, &path).or_else(|| {
            let here = key.span().contains(&offset) || value.span().contains(&offset);
            here.then_some(path)
        })
    })
}

fn search_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &str) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(table) => search_table(table, offset, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let path = format!("{path}[{i}]");
            search_value(item, offset, &path)
                .or_else(|| item.span().contains(&offset).then_some(path))
        }),
        _ => None,
    }
}
