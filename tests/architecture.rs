//! The import rules of docs/architecture.md that cargo's dependency graph does not
//! enforce, checked on the sources.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

/// A file's product code: what comes before its test module. Test files and fixtures
/// have none.
fn product_code(path: &Path, text: &str) -> String {
    let name = path.file_name().unwrap().to_string_lossy();
    if name == "tests.rs" || name == "fixture.rs" {
        return String::new();
    }
    text.split("#[cfg(test)]").next().unwrap().to_string()
}

/// The lines of product code under `dir` that mention any of `forbidden` outside comments.
fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    sources(dir)
        .into_iter()
        .flat_map(|(path, text)| {
            let code = product_code(&path, &text);
            let path = path.strip_prefix(root()).unwrap().display().to_string();
            code.lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .filter_map(|line| {
                    let hit = forbidden.iter().find(|f| line.contains(**f))?;
                    Some(format!("{path}: `{hit}` in: {}", line.trim()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_engine_knows_no_command_line_and_no_config_file() {
    let found = offenders(
        "src/engine",
        &[
            "crate::cli",
            "crate::commands",
            "crate::config",
            "crate::daemon",
            "crate::logging",
            "crate::metrics",
            "crate::demo",
            "crate::check",
            "crate::connect",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_merge_is_pure() {
    for file in [
        "merge.rs",
        "mapping.rs",
        "reconcile/mod.rs",
        "reconcile/references.rs",
    ] {
        let path = root().join("src/engine").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = product_code(&path, &text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for forbidden in [
            "Store",
            "Tx<",
            "Reader",
            "Connector",
            "tokio",
            "reqwest",
            "std::fs",
            "Utc::now",
        ] {
            assert!(!code.contains(forbidden), "{file} uses {forbidden}");
        }
    }
}

#[test]
fn the_engine_spells_no_vendor_field_name() {
    let found = offenders(
        "src/engine",
        &[
            "\"IsConverted\"",
            "\"ConvertedContactId\"",
            "\"MasterRecordId\"",
            "\"hs_merged_object_ids\"",
            "\"Email\"",
            "\"email\"",
            "\"CANNOT_UPDATE_CONVERTED_LEAD\"",
            "\"lastmodifieddate\"",
            "\"SystemModstamp\"",
        ],
    );
    // Tests may build records as the APIs send them; product code may not.
    let product: Vec<&String> = found
        .iter()
        .filter(|f| !f.contains("tests.rs") && !f.contains("fixture.rs"))
        .collect();
    assert!(
        product
            .iter()
            .all(|f| f.contains("#[cfg(test)]") || is_in_tests(f)),
        "{product:#?}"
    );
}

/// True when the offending line sits in a test module of its file.
fn is_in_tests(offence: &str) -> bool {
    let (path, _) = offence.split_once(": ").unwrap();
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    let line = offence.split_once(" in: ").unwrap().1;
    let tests_at = text.find("#[cfg(test)]").unwrap_or(usize::MAX);
    text.find(line).is_some_and(|at| at > tests_at)
}

#[test]
fn hubspot_and_salesforce_never_import_each_other() {
    let found = offenders("connectors/src/hubspot", &["salesforce::"]);
    assert!(found.is_empty(), "{found:#?}");
    let found = offenders("connectors/src/salesforce", &["hubspot::"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn connectors_know_no_store_and_the_store_knows_no_api() {
    let found = offenders("connectors/src", &["truce_state"]);
    assert!(found.is_empty(), "{found:#?}");
    let found = offenders(
        "state/src",
        &["truce_connectors", "reqwest", "hubspot::", "salesforce::"],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_fakes_share_no_code_with_the_clients_they_test() {
    let manifest = std::fs::read_to_string(root().join("connectors/sandbox/Cargo.toml")).unwrap();
    let deps = manifest.split("[dev-dependencies]").next().unwrap();
    assert!(
        !deps.contains("truce-connectors"),
        "truce-sandbox depends on truce-connectors"
    );
    let found = offenders("connectors/sandbox/src", &["truce_connectors"]);
    assert!(found.is_empty(), "{found:#?}");
}
