//! Fuzzes the TOML run-config parser, its validation and `to_toml` round trip: see [`burngan_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    burngan_fuzz::config(data);
});
