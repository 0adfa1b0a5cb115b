//! Content digests: what the Hub's ETags and torchvision's file names promise
//! about a file's bytes.

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// What a file's bytes must hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expected {
    /// Full SHA-256, lowercase hex (the ETag of a Git LFS file on the Hub).
    Sha256(String),
    /// The first hex digits of the SHA-256 (torchvision's file names).
    Sha256Prefix(String),
    /// Git's blob id, `sha1("blob <len>\0" + bytes)` (the ETag of a plain
    /// git file on the Hub).
    GitBlobSha1(String),
}

impl Expected {
    /// What an ETag (quotes and a weak `W/` prefix allowed) promises, if it
    /// is a digest at all.
    pub(crate) fn from_etag(etag: &str) -> Option<Self> {
        let e = etag.trim().trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
        if is_hex(&e, 64) {
            Some(Expected::Sha256(e))
        } else if is_hex(&e, 40) {
            Some(Expected::GitBlobSha1(e))
        } else {
            None
        }
    }

    /// Name of the digest in messages.
    pub(crate) fn algorithm(&self) -> &'static str {
        match self {
            Expected::Sha256(_) | Expected::Sha256Prefix(_) => "SHA-256",
            Expected::GitBlobSha1(_) => "git blob SHA-1",
        }
    }

    /// The expected value as shown in messages.
    pub(crate) fn shown(&self) -> String {
        match self {
            Expected::Sha256(h) | Expected::GitBlobSha1(h) => h.clone(),
            Expected::Sha256Prefix(p) => format!("{p}..."),
        }
    }

    /// `Ok(())` when `bytes` (whose SHA-256 is `sha256`) fit; else the
    /// digest that was found, for the message.
    pub(crate) fn check(&self, bytes: &[u8], sha256: &str) -> Result<(), String> {
        let actual = match self {
            Expected::Sha256(h) if h == sha256 => return Ok(()),
            Expected::Sha256Prefix(p) if sha256.starts_with(p.as_str()) => return Ok(()),
            Expected::Sha256(_) | Expected::Sha256Prefix(_) => sha256.to_owned(),
            Expected::GitBlobSha1(h) => {
                let actual = git_blob_sha1_hex(bytes);
                if &actual == h {
                    return Ok(());
                }
                actual
            }
        };
        Err(actual)
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex git blob id of `bytes`.
pub(crate) fn git_blob_sha1_hex(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `s` is `len` hex digits.
pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}
