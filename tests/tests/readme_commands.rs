//! The README's first two commands take a machine with only the Rust toolchain to a running
//! bridge and to a passing test suite. They rot silently when a build dependency is added and
//! only the test script learns of it: so both go through the one install step
//! (`tools/build-deps`), and this test holds the README, the scripts and that step together.

use std::process::Command;

use pont_tests::workspace_root;

/// The `sh` code blocks of a Markdown text, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence.starts_with("```sh") => current = Some(String::new()),
            (Some(block), fence) if fence.starts_with("```") => {
                blocks.push(block.trim().to_owned());
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The non-comment lines of a shell script.
fn commands(script: &str) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_first_two_readme_commands_install_what_they_build_with() {
    let blocks = shell_blocks(&read("README.md"));
    assert!(blocks.len() >= 2, "README has {} sh blocks", blocks.len());
    assert_eq!(blocks[0], "bash tools/serve", "the README's first command");
    assert_eq!(
        blocks[1], "bash tools/test-all",
        "the README's second command"
    );

    // tools/serve installs the build's packages before it builds.
    let serve = commands(&read("tools/serve"));
    let deps = serve.iter().position(|l| l == "bash tools/build-deps");
    let run = serve
        .iter()
        .position(|l| l.contains("cargo run --release --bin pont -- serve"));
    assert!(
        matches!((deps, run), (Some(d), Some(r)) if d < r),
        "tools/serve must run tools/build-deps, then cargo run: {serve:?}"
    );

    // The test command goes through the same step, so CI runs it on every build.
    let test_all = commands(&read("tools/test-all"));
    assert!(
        test_all.iter().any(|l| l == "bash tools/test-deps"),
        "{test_all:?}"
    );
    let test_deps = commands(&read("tools/test-deps"));
    assert!(
        test_deps.iter().any(|l| l == "bash tools/build-deps"),
        "{test_deps:?}"
    );

    // And the step names what the build needs (opusic-sys runs cmake, openh264-sys2 nasm).
    let build_deps = read("tools/build-deps");
    let install = commands(&build_deps)
        .into_iter()
        .find(|l| l.starts_with("apt_install_missing"))
        .expect("tools/build-deps installs packages");
    for package in ["cmake", "nasm"] {
        assert!(
            install.split_whitespace().any(|w| w == package),
            "{install}"
        );
    }
}

#[test]
fn the_install_step_runs_and_finds_its_packages() {
    // On a machine where the packages are missing this installs them (CI runs as root); where
    // they are present it only checks, so running it again is safe.
    let out = Command::new("bash")
        .arg(workspace_root().join("tools/build-deps"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tools/build-deps failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for tool in ["cmake", "nasm"] {
        let found = Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "{tool} not runnable after tools/build-deps"
        );
    }
}
