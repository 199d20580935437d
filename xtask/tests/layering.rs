//! The bottom of the workspace stays free of Burn: `polyret-sampler`, `polyret-ingest` and the
//! evaluator without its `encoder` feature build without any crate of Burn's tree (the tensor
//! framework, its backends and their kernels).
//! `workspace-hack` must not bring them back (`.config/hakari.toml` excludes them), and neither
//! may a new dependency. Reads `cargo tree`, so it checks the manifests, not a build.

use std::process::Command;

/// Crate-name prefixes of Burn's tree: Burn itself, CubeCL, WGPU and the CPU backend's kernels.
const BURN_TREE: [&str; 7] = ["burn", "cubecl", "wgpu", "gemm", "pulp", "ndarray", "naga"];

/// The normal (non-dev, non-build) dependencies of `package` built with `args`, one crate name
/// per entry.
fn normal_dependencies(package: &str, args: &[&str]) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--edges", "normal", "--prefix", "none", "--format", "{p}"])
        .args(["--package", package])
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree -p {package} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_free_of_burn(package: &str, args: &[&str]) {
    let dependencies = normal_dependencies(package, args);
    assert!(dependencies.iter().any(|name| name == package), "cargo tree did not list {package}");
    let mut burn: Vec<&str> = dependencies
        .iter()
        .map(String::as_str)
        .filter(|name| BURN_TREE.iter().any(|prefix| name.starts_with(prefix)))
        .collect();
    burn.sort_unstable();
    burn.dedup();
    assert!(
        burn.is_empty(),
        "{package} {args:?} depends on Burn's tree ({}); keep Burn's crates out of it \
         (for workspace-hack: list them under [final-excludes] in .config/hakari.toml and run \
         `cargo hakari generate`; see docs/architecture.md)",
        burn.join(", ")
    );
}

#[test]
fn sampler_builds_without_burn() {
    assert_free_of_burn("polyret-sampler", &[]);
    assert_free_of_burn("polyret-sampler", &["--all-features"]);
}

#[test]
fn ingest_builds_without_burn() {
    assert_free_of_burn("polyret-ingest", &[]);
}

/// Without its `encoder` feature the evaluator takes models through `Embedder` only.
#[test]
fn evaluator_builds_without_burn() {
    assert_free_of_burn("polyret-evaluator", &[]);
}
