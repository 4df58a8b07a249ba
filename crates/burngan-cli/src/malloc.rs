//! glibc's malloc settings for a training process, applied by the `burngan` binary itself.
//!
//! A training step allocates and frees the same tensors every step. Those of a few hundred KiB
//! (a `[512, 256]` f32 activation is 512 KiB) lie above glibc's default mmap threshold, so
//! every step maps, faults in and unmaps them afresh. With a 32 MiB mmap threshold, a 64 MiB
//! trim threshold and a 16 MiB top pad, freed pages stay in the heap. glibc reads these
//! settings only from `GLIBC_TUNABLES` at process start, and the workspace forbids the unsafe
//! code that `mallopt` or `set_var` would need, so the binary re-executes itself once with the
//! variable set ([`reexec_with_malloc_tunables`]). Measured (docs/benchmarks.md, flex,
//! interleaved A/B of the same binary with and without the settings, medians of 5 rounds): on
//! the 2-core Intel Xeon with AVX-512, `ring8-mlp` +26 %, `mnist-mlp` +3 %, `mnist-dcgan`
//! +5 %; on the 2-core AMD EPYC without it, `ring8-mlp` +39 %, the image workloads within
//! their spread.

use std::ffi::OsString;

/// The settings, in `GLIBC_TUNABLES` syntax: a 32 MiB mmap threshold, a 64 MiB trim threshold
/// and a 16 MiB top pad (bytes).
pub const MALLOC_TUNABLES: &str = "glibc.malloc.mmap_threshold=33554432:\
                                   glibc.malloc.trim_threshold=67108864:\
                                   glibc.malloc.top_pad=16777216";

/// The environment variable glibc reads its tunables from.
pub const TUNABLES_VAR: &str = "GLIBC_TUNABLES";

/// Whether a process started with `GLIBC_TUNABLES` = `current` should re-execute itself with
/// [`MALLOC_TUNABLES`]: only on Linux with glibc, and only when the variable is unset. Any value
/// the caller sets, the empty string included, is kept (`GLIBC_TUNABLES=` keeps glibc's
/// defaults); the re-executed process has it set, so it never re-executes again.
pub fn wants_reexec(current: Option<&std::ffi::OsStr>) -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu")) && current.is_none()
}

/// Replaces this process by the same program with the same arguments (`args`, the program name
/// first) and `GLIBC_TUNABLES` = [`MALLOC_TUNABLES`], when [`wants_reexec`] says so. Returns
/// without doing anything otherwise, and also when the program cannot be found or executed
/// again (the settings change speed, never results), so the caller simply goes on.
pub fn reexec_with_malloc_tunables(args: &[OsString]) {
    if !wants_reexec(std::env::var_os(TUNABLES_VAR).as_deref()) {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(program) = std::env::current_exe() else {
            return;
        };
        let mut command = std::process::Command::new(program);
        if let Some((name, rest)) = args.split_first() {
            command.arg0(name).args(rest);
        }
        // `exec` returns only when it failed; then this process goes on with glibc's defaults.
        let _failed = command.env(TUNABLES_VAR, MALLOC_TUNABLES).exec();
    }
}

/// What `burngan info` says of the malloc settings, given `GLIBC_TUNABLES` = `current`.
pub fn describe(current: Option<&std::ffi::OsStr>) -> String {
    match current {
        Some(value) if value.is_empty() => {
            format!("glibc's defaults ({TUNABLES_VAR} is set but empty)")
        }
        Some(value) if value == MALLOC_TUNABLES => {
            format!("burngan's training settings ({TUNABLES_VAR}={MALLOC_TUNABLES})")
        }
        Some(value) => format!(
            "{TUNABLES_VAR}={} (set by the caller)",
            value.to_string_lossy()
        ),
        None => format!("glibc's defaults ({TUNABLES_VAR} unset)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc's `name=value:name=value` syntax, no spaces left by the line continuations: a
    /// 32 MiB mmap threshold, a 64 MiB trim threshold and a 16 MiB top pad.
    #[test]
    fn the_tunables_are_three_glibc_settings_in_bytes() {
        let settings: Vec<(&str, u64)> = MALLOC_TUNABLES
            .split(':')
            .map(|item| {
                let (name, value) = item.split_once('=').expect("name=value");
                (name, value.parse().expect("a byte count"))
            })
            .collect();
        assert_eq!(
            settings,
            [
                ("glibc.malloc.mmap_threshold", 32 << 20),
                ("glibc.malloc.trim_threshold", 64 << 20),
                ("glibc.malloc.top_pad", 16 << 20),
            ]
        );
    }

    /// A set variable, even empty, is the caller's choice and stops the re-execution (and so
    /// any loop); an unset one re-executes on Linux with glibc only.
    #[test]
    fn only_an_unset_variable_on_glibc_asks_for_the_reexecution() {
        let glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert_eq!(wants_reexec(None), glibc);
        assert!(!wants_reexec(Some(std::ffi::OsStr::new(""))));
        assert!(!wants_reexec(Some(std::ffi::OsStr::new(MALLOC_TUNABLES))));
    }
}
