//! Random identifiers: job ids and the references of internal errors.

/// `N` random bytes as lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> Result<String, getrandom::Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
