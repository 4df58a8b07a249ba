//! The process's resident memory, read from Linux's `/proc/self`. Elsewhere every function
//! returns `None` (the reports then show no memory figures rather than wrong ones).

use std::fs;

/// Resident set size now, in bytes (`VmRSS`).
pub fn resident_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// The highest resident set size since the process started or since the last
/// [`reset_peak`] (`VmHWM`), in bytes.
pub fn peak_resident_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// Resets the peak that [`peak_resident_bytes`] reports to the current resident size
/// (writing `5` to `/proc/self/clear_refs`, Linux ≥ 4.0), so that each workload of one
/// process gets its own peak. Returns false where that is not possible; the peak then
/// covers everything the process did before.
pub fn reset_peak() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn status_kib(key: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 256 MiB buffer that is touched raises the peak by about its size; after a reset and
    /// freeing it the peak comes back down.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_peak_follows_a_large_allocation_and_resets() {
        const SIZE: usize = 256 << 20;
        assert!(reset_peak());
        let before = peak_resident_bytes().unwrap();
        let buffer = vec![1u8; SIZE];
        let during = peak_resident_bytes().unwrap();
        assert!(resident_bytes().unwrap() >= SIZE as u64);
        assert!(
            during >= before + (SIZE as u64) * 9 / 10,
            "{before} → {during}"
        );
        drop(std::hint::black_box(buffer));
        assert!(reset_peak());
        let after = peak_resident_bytes().unwrap();
        assert!(after + (SIZE as u64) / 2 < during, "{during} → {after}");
    }
}
