//! Fuzzes the IDX reader (raw and gzipped, ranks 1 and 3): see [`burngan_fuzz::idx`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    burngan_fuzz::idx(data);
});
