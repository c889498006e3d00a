//! Same catalog, same rows: the same answers, byte for byte, from every process and every
//! rebuild of the index. `catalog match` runs three times in separate processes (each with its
//! own hash seeds): over the catalog as written, over the catalog in reverse order (a table
//! scan's order moves with every write), and from the snapshot the second run saved. The
//! predictions and the `--explain` evidence must be identical.
//!
//! The catalog holds what used to make answers move: products that are the same text twice
//! under two ids (a tie settled by the products' numbering), and rows whose unit is a typo that
//! could be two units (`mgl`: mg or ml).

use std::path::Path;
use std::process::Command;

fn catalog_rows() -> Vec<[String; 5]> {
    let brands = ["Acme", "Sunrise", "Kaveri", "Nila"];
    let kinds = [
        "Herbal Shampoo",
        "Face Wash",
        "Basmati Rice",
        "Turmeric Powder",
        "Coconut Oil",
    ];
    let variants = ["", " - Rose", " - Lavender", " - Anti Dandruff"];
    let sizes = ["50 g", "100 g", "200 ml", "1 L", "500 mg"];
    let mut rows = Vec::new();
    let mut n = 0;
    for b in brands {
        for k in kinds {
            for v in variants {
                for s in sizes {
                    n += 1;
                    rows.push([
                        format!("P{n:04}"),
                        b.to_string(),
                        format!("{k}{v}"),
                        s.to_string(),
                        String::new(),
                    ]);
                }
            }
        }
    }
    // The same product listed twice, under ids that sort against the file's order.
    for (id, b, k, s) in [
        ("Z-TWIN-1", "Acme", "Herbal Shampoo", "200 ml"),
        ("A-TWIN-2", "Acme", "Herbal Shampoo", "200 ml"),
        ("M-TWIN-3", "Nila", "Coconut Oil", "1 L"),
        ("B-TWIN-4", "Nila", "Coconut Oil", "1 L"),
    ] {
        rows.push([id, b, k, s, ""].map(String::from));
    }
    rows
}

const QUERIES: &[[&str; 4]] = &[
    ["acme herbal shampoo 200 ml", "", "", ""],
    ["herbal shampoo", "Acme", "200ml", ""],
    ["nila coconut oil 1 ltr", "", "", ""],
    ["coconut oil", "", "1 l", ""],
    ["acme herbal shampoo 200 mgl", "", "", ""],
    ["sunrise face wash rose 100 mgm", "", "", ""],
    ["kaveri turmeric powder 500 mml", "", "", ""],
    ["nila basmati rice 50 clm", "", "", ""],
    ["acme shampoo lavendar 200ml", "", "", ""],
    ["sunrise face wash", "", "", ""],
    ["anti dandruff shampoo", "Kaveri", "50 g", ""],
    ["rose face wash 1 l", "", "", ""],
    ["something else entirely", "", "", ""],
];

fn write_csv(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// Runs `catalog match` with `source` (`--catalog F` or `--index F`) and returns its
/// predictions and explain file.
fn run(dir: &Path, name: &str, source: [&str; 2], extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let out = dir.join(format!("{name}.csv"));
    let explain = dir.join(format!("{name}.jsonl"));
    let status = Command::new(env!("CARGO_BIN_EXE_catalog"))
        .arg("match")
        .args(source)
        .arg("--queries")
        .arg(dir.join("queries.csv"))
        .arg("--out")
        .arg(&out)
        .arg("--explain")
        .arg(&explain)
        .args(["--passes", "1", "--min-seconds", "0.001", "--threads", "1"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("catalog match runs");
    assert!(status.success(), "catalog match {name} failed");
    (std::fs::read(out).unwrap(), std::fs::read(explain).unwrap())
}

#[test]
fn every_process_and_every_rebuild_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let header = ["product_id", "brand", "name", "quantity", "barcode"];
    let rows = catalog_rows();
    write_csv(
        &dir.path().join("catalog.csv"),
        &header,
        rows.iter().map(|r| r.to_vec()),
    );
    write_csv(
        &dir.path().join("reversed.csv"),
        &header,
        rows.iter().rev().map(|r| r.to_vec()),
    );
    write_csv(
        &dir.path().join("queries.csv"),
        &["query_id", "name", "brand", "quantity", "barcode"],
        QUERIES.iter().enumerate().map(|(i, q)| {
            let mut r = vec![format!("q{i}")];
            r.extend(q.iter().map(|s| s.to_string()));
            r
        }),
    );
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let first = run(
        dir.path(),
        "first",
        ["--catalog", &path("catalog.csv")],
        &[],
    );
    let snapshot = path("index.snapshot");
    let reversed = run(
        dir.path(),
        "reversed",
        ["--catalog", &path("reversed.csv")],
        &["--snapshot", &snapshot],
    );
    let loaded = run(dir.path(), "loaded", ["--index", &snapshot], &[]);
    for (name, other) in [("reversed", &reversed), ("loaded", &loaded)] {
        assert_eq!(
            String::from_utf8_lossy(&first.0),
            String::from_utf8_lossy(&other.0),
            "predictions: {name}"
        );
        assert!(first.1 == other.1, "--explain differs: {name}");
    }
    // The twins are found, and one of them is always the one proposed.
    let predictions = String::from_utf8(first.0).unwrap();
    assert!(predictions.contains("q0,A-TWIN-2,"), "{predictions}");
    assert!(predictions.contains("q2,B-TWIN-4,"), "{predictions}");
}
