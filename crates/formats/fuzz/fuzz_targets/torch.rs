//! Fuzzes the PyTorch zip checkpoint reader on in-memory input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = relaxvqa_formats::torch::read_state_dict_from(std::io::Cursor::new(data), None);
});
