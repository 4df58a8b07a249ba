//! Fuzzes the checkpoint loader (state, modules, optimizer states) of a small trainer on flex: see [`burngan_fuzz::checkpoint`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    burngan_fuzz::checkpoint(data);
});
