//! Checking loaded weights against what a network needs, and the harmless
//! differences between published checkpoints that are smoothed over first.

use std::collections::HashSet;

use super::error::{ShapeMismatch, WeightsError};
use crate::{HostTensor, StateDict};

/// The leaf of BatchNorm's step counter: an int64 buffer unused in
/// inference, absent from some checkpoints (torchvision's older saves).
const NUM_BATCHES_TRACKED: &str = "num_batches_tracked";

fn is_counter(name: &str) -> bool {
    name.rsplit('.').next() == Some(NUM_BATCHES_TRACKED)
}

/// Checks that every expected tensor is present with its shape; lists every
/// problem in one [`WeightsError::Mismatch`]. Tensors not in `expected` are
/// allowed. A missing `num_batches_tracked` is not a problem (see
/// [`conform`]).
pub fn validate(state_dict: &StateDict, expected: &[(String, Vec<usize>)]) -> Result<(), WeightsError> {
    validate_named(state_dict, expected, "the weights")
}

/// [`validate`], with `what` (e.g. `ResNet-50 weights from x.pth`) opening
/// the message.
pub(crate) fn validate_named(
    state_dict: &StateDict,
    expected: &[(String, Vec<usize>)],
    what: &str,
) -> Result<(), WeightsError> {
    let mut missing = Vec::new();
    let mut wrong_shape = Vec::new();
    for (name, shape) in expected {
        match state_dict.get(name) {
            None if is_counter(name) => {}
            None => missing.push(name.clone()),
            Some(t) if t.shape != *shape && !is_counter(name) => {
                wrong_shape.push(ShapeMismatch { name: name.clone(), expected: shape.clone(), found: t.shape.clone() })
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() && wrong_shape.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let unexpected = state_dict.iter().map(|(n, _)| n).filter(|n| !wanted.contains(n)).map(str::to_owned).collect();
    let fitting = expected.len() - missing.len() - wrong_shape.len();
    Err(WeightsError::Mismatch { what: what.to_owned(), fitting, missing, wrong_shape, unexpected })
}

/// Brings a published state dict to exactly the expected names:
/// - strips a `module.` prefix (DataParallel saves) when every name has it
///   and no expected name does;
/// - fills an expected but absent `num_batches_tracked` with zeros;
/// - drops every tensor not expected (`fc.*`, `head.*`, ...), logging them.
///
/// Validate afterwards: a missing or misshapen tensor stays so.
pub fn conform(state_dict: StateDict, expected: &[(String, Vec<usize>)]) -> StateDict {
    let mut sd = strip_module_prefix(state_dict, expected);
    let wanted: HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let extra: Vec<String> = sd.iter().map(|(n, _)| n).filter(|n| !wanted.contains(n)).map(str::to_owned).collect();
    if !extra.is_empty() {
        tracing::debug!("dropping {} tensor(s) the network does not use: {}", extra.len(), extra.join(", "));
    }
    for name in &extra {
        sd.remove(name);
    }
    for (name, shape) in expected {
        if is_counter(name) && sd.get(name).is_none() {
            let n = shape.iter().product();
            sd.insert(name.clone(), HostTensor { shape: shape.clone(), data: vec![0.0; n] });
        }
    }
    sd
}

/// Strips DataParallel's `module.` prefix when every name has it and no
/// expected name does.
pub(crate) fn strip_module_prefix(state_dict: StateDict, expected: &[(String, Vec<usize>)]) -> StateDict {
    let prefix = "module.";
    if !state_dict.is_empty()
        && state_dict.iter().all(|(n, _)| n.starts_with(prefix))
        && !expected.iter().any(|(n, _)| n.starts_with(prefix))
    {
        state_dict.strip_prefix(prefix, &[])
    } else {
        state_dict
    }
}
