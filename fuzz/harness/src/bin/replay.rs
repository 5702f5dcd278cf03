//! Stable-toolchain runner for the fuzz harnesses: replays corpus files and
//! then feeds pseudo-random mutations of them (a fixed-seed xorshift, so a
//! run is reproducible) through the same functions libFuzzer calls.
//!
//!   replay [--target NAME]... [--corpus DIR]... [--iterations N] [--seed S]
//!   replay --target NAME FILE...        (reproduce: run just these files)
//!
//! `--corpus DIR` is a directory holding one sub-directory per target
//! (default: fuzz/corpus). On a failed invariant or panic the input is
//! written to fuzz/artifacts/<target>/replay-crash-<hash>, its path printed,
//! and the exit status is 1.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferricorn_fuzz_harness::{Harness, TARGETS, TOKENS};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const MAX_LEN: usize = 16 * 1024;

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = if seeds.is_empty() || rng.below(16) == 0 {
        (0..rng.below(64)).map(|_| rng.next() as u8).collect()
    } else {
        seeds[rng.below(seeds.len())].clone()
    };
    for _ in 0..=rng.below(8) {
        let len = v.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let part = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, part);
            }
            5 | 6 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
            7 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let a = rng.below(len + 1);
                let b = rng.below(other.len() + 1);
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            8 if len > 0 => v.truncate(rng.below(len)),
            // Settings bytes (the first few) steer every harness.
            _ if len > 0 => {
                let i = rng.below(len.min(4));
                v[i] = rng.next() as u8;
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v.truncate(MAX_LEN);
    v
}

fn read_dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_file() {
                if let Ok(b) = std::fs::read(&p) {
                    out.push((p, b));
                }
            }
        }
    }
    out
}

fn fuzz_dir() -> PathBuf {
    // fuzz/harness → fuzz
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("fuzz"))
}

fn hash_hex(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Runs one input; on a panic saves it and exits 1.
fn run_one(name: &str, f: Harness, input: &[u8], origin: &str) {
    let r = std::panic::catch_unwind(|| f(input));
    if r.is_err() {
        let dir = fuzz_dir().join("artifacts").join(name);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("replay-crash-{}", hash_hex(input)));
        let _ = std::fs::write(&path, input);
        eprintln!("FAILED: target {name}, input from {origin}");
        eprintln!("reproducer: {}", path.display());
        eprintln!(
            "reproduce with: cargo run --profile replay --manifest-path fuzz/Cargo.toml \
             -p ferricorn-fuzz-harness --bin replay -- --target {name} {}",
            path.display()
        );
        std::process::exit(1);
    }
}

fn main() {
    let mut targets: Vec<String> = Vec::new();
    let mut corpora: Vec<PathBuf> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut iterations: usize = 20_000;
    let mut seed: u64 = 0x5eed_f00d_cafe_d00d;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |what: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("replay: {what} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--target" => targets.push(val("--target")),
            "--corpus" => corpora.push(PathBuf::from(val("--corpus"))),
            "--iterations" => iterations = val("--iterations").parse().unwrap_or(iterations),
            "--seed" => seed = val("--seed").parse().unwrap_or(seed),
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("replay.rs")
                        .lines()
                        .take(11)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                return;
            }
            _ if a.starts_with("--") => {
                eprintln!("replay: unknown option {a}");
                std::process::exit(2);
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    for t in &targets {
        if !TARGETS.iter().any(|(n, _)| n == t) {
            eprintln!("replay: unknown target {t}");
            std::process::exit(2);
        }
    }
    let selected: Vec<(&str, Harness)> = TARGETS
        .iter()
        .filter(|(n, _)| targets.is_empty() || targets.iter().any(|t| t == n))
        .copied()
        .collect();

    if !files.is_empty() {
        if selected.len() != 1 {
            eprintln!("replay: give exactly one --target with input files");
            std::process::exit(2);
        }
        let (name, f) = selected[0];
        for p in &files {
            let input = std::fs::read(p).unwrap_or_else(|e| {
                eprintln!("replay: {}: {e}", p.display());
                std::process::exit(2)
            });
            run_one(name, f, &input, &p.display().to_string());
            println!("{name}: {} ok", p.display());
        }
        return;
    }

    if corpora.is_empty() {
        corpora.push(fuzz_dir().join("corpus"));
    }
    for (name, f) in selected {
        let t0 = Instant::now();
        let mut seeds = Vec::new();
        for c in &corpora {
            for (p, input) in read_dir_files(&c.join(name)) {
                run_one(name, f, &input, &p.display().to_string());
                seeds.push(input);
            }
        }
        let name_hash = u64::from_str_radix(&hash_hex(name.as_bytes()), 16).unwrap_or(1);
        let mut rng = Rng((seed ^ name_hash) | 1);
        for i in 0..iterations {
            let input = mutate(&mut rng, &seeds);
            run_one(name, f, &input, &format!("random input #{i} (seed {seed})"));
        }
        println!(
            "{name}: {} corpus inputs + {iterations} random inputs ok ({:.1}s)",
            seeds.len(),
            t0.elapsed().as_secs_f64()
        );
    }
}
