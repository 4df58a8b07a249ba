//! Fuzzes the checkpoint loader (state, modules, optimizer states) of a small trainer on flex:
//! see [`burngan_fuzz::checkpoint`].
#![no_main]

static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts even for a panic that is caught: the loader catches
    // Burn's panics on some damaged files and reports them as errors. The default hook lets
    // that happen; a panic that escapes the harness still aborts (libfuzzer-sys catches it
    // and aborts), so it is still found.
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    burngan_fuzz::checkpoint(data);
});
