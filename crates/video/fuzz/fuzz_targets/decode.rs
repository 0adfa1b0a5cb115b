//! Fuzzes the decode front end: any bytes, read as a video from memory
//! (`MediaInput::bytes`), must end in frames or a `VideoError`, never a
//! panic, a crash or a hang. A first byte of 0xF0 or more reads the rest as
//! raw video (see `decode_input.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../decode_input.rs"]
mod decode_input;

fuzz_target!(|data: &[u8]| {
    decode_input::decode(data);
});
