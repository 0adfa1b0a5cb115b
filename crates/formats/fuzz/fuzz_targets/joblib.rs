//! Fuzzes the joblib reader (pickle parser plus embedded NumPy arrays) and
//! the scikit-learn object readers on top of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaxvqa_formats::joblib;

fuzz_target!(|data: &[u8]| {
    if let Ok(pk) = joblib::parse(data) {
        let _ = joblib::simple_imputer_from(&pk);
        let _ = joblib::min_max_scaler_from(&pk);
    }
});
