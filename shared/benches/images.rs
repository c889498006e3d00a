//! The image pipeline ([`catalog_core::images::process`]) on photos, for `make bench-images`
//! (tests/scripts/bench_images.py builds the photos, runs Pillow beside it and prints the
//! table). Built with the `bench` profile, which is the release profile the Lambda functions
//! are built with.
//!
//! - `images --dir DIR [--repeat N]`: every `.jpg` in DIR, each timed alone, best of N rounds
//!   over them all; one line per photo: name, milliseconds, how the original was kept, its bytes, its hash, its
//!   perceptual hash.
//! - `images --once FILE`: FILE processed once; prints the milliseconds and this process's
//!   peak RSS (VmHWM, KiB: what Lambda's "Max Memory Used" reports).

use std::path::{Path, PathBuf};
use std::time::Instant;

use catalog_core::images::{self, Processed};

fn process(path: &Path) -> (f64, Processed) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = Instant::now();
    let done = images::process(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (start.elapsed().as_secs_f64() * 1000.0, done)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(file) = value("--once") {
        let (ms, done) = process(Path::new(&file));
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let peak_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        println!("{file}\t{ms:.1}\t{peak_kib}\t{}", done.hash);
        return;
    }
    let dir = value("--dir").expect("usage: images --dir DIR [--repeat N] | --once FILE");
    let repeat: usize = value("--repeat").map_or(3, |n| n.parse().expect("--repeat N"));
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("--dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    photos.sort();
    // Rounds over all the photos, each photo's best kept: a slow spell of a shared machine
    // then costs one round of one photo, not every try of it.
    let mut best = vec![f64::MAX; photos.len()];
    // What is printed of each photo's last run (not its images: they would stay on the heap).
    let mut last = vec![None; photos.len()];
    for _ in 0..repeat.max(1) {
        for (i, photo) in photos.iter().enumerate() {
            let (ms, done) = process(photo);
            best[i] = best[i].min(ms);
            last[i] = Some((
                if done.original_kept {
                    "kept"
                } else {
                    "encoded"
                },
                done.original.bytes.len(),
                done.hash,
                done.perceptual.to_hex(),
            ));
        }
    }
    for ((photo, best), last) in photos.iter().zip(best).zip(last) {
        let (kept, size, hash, perceptual) = last.expect("processed");
        println!(
            "{}\t{best:.1}\t{kept}\t{size}\t{hash}\t{perceptual}",
            photo.file_name().unwrap_or_default().to_string_lossy(),
        );
    }
}
