//! safetensors files whose bytes depend on nothing but their contents: the
//! `safetensors` crate writes metadata from a `HashMap`, in an order that
//! changes from run to run, so two runs of the same extraction would give
//! files that differ while saying the same. Head files and feature files
//! are written through here.

use std::collections::BTreeMap;

use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

/// Serializes tensors and metadata as `safetensors::serialize` does (tensors
/// sorted by descending dtype alignment, then name; header padded with
/// spaces to a multiple of 8 bytes), but with the metadata keys in sorted
/// order, so the bytes depend on nothing but the input.
pub fn serialize_sorted(
    mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, serde_json::Error> {
    entries.sort_by(|(ln, ld, _, _), (rn, rd, _, _)| rd.cmp(ld).then(ln.cmp(rn)));
    // No metadata, no `__metadata__` key (as `safetensors::serialize` with
    // `None`).
    let mut header = String::from("{");
    if !metadata.is_empty() {
        header.push_str("\"__metadata__\":");
        header.push_str(&serde_json::to_string(metadata)?);
    }
    let mut offset = 0;
    for (name, dtype, shape, bytes) in &entries {
        let info = TensorInfo { dtype: *dtype, shape: shape.clone(), data_offsets: (offset, offset + bytes.len()) };
        offset += bytes.len();
        if header.len() > 1 {
            header.push(',');
        }
        header.push_str(&serde_json::to_string(name)?);
        header.push(':');
        header.push_str(&serde_json::to_string(&info)?);
    }
    header.push('}');
    let mut header = header.into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    for (_, _, _, bytes) in &entries {
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_safetensors_serialize_with_sorted_metadata() {
        // With one metadata key the safetensors crate's order is fixed, so
        // its bytes and ours must agree exactly.
        let a: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = [4.0f64, 5.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let entries = vec![
            ("z.weight".to_owned(), Dtype::F32, vec![3], a.clone()),
            ("a.stat".to_owned(), Dtype::F64, vec![2], b.clone()),
        ];
        let meta = BTreeMap::from([("k".to_owned(), "v \"quoted\"".to_owned())]);
        let ours = serialize_sorted(entries, &meta).expect("ours");
        let va = safetensors::tensor::TensorView::new(Dtype::F32, vec![3], &a).expect("view a");
        let vb = safetensors::tensor::TensorView::new(Dtype::F64, vec![2], &b).expect("view b");
        let theirs = safetensors::serialize(
            [("z.weight", va), ("a.stat", vb)],
            Some(meta.into_iter().collect::<std::collections::HashMap<_, _>>()),
        )
        .expect("theirs");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn without_metadata_the_bytes_are_safetensors_own() {
        let a: Vec<u8> = [1i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let ours =
            serialize_sorted(vec![("x".to_owned(), Dtype::I64, vec![2], a.clone())], &BTreeMap::new()).expect("ours");
        let view = safetensors::tensor::TensorView::new(Dtype::I64, vec![2], &a).expect("view");
        let theirs = safetensors::serialize([("x", view)], None).expect("theirs");
        assert_eq!(ours, theirs);
    }
}
