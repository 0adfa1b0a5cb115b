//! Fuzzes the bare pickle parser: any input must give a value tree or an
//! error, never a panic, a hang or an allocation out of proportion to it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pk) = relaxvqa_formats::pickle::parse(data) {
        // Walk what came out, as the format readers would.
        let root = pk.root();
        let _ = pk.describe(root);
        if let Some(items) = pk.mapping(root) {
            for (k, v) in items {
                let _ = (pk.describe(*k), pk.describe(*v), pk.class_of(*v));
            }
        }
    }
});
