//! Errors of the image stage.

/// What can go wrong when building or combining image buffers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageError {
    /// A buffer's length does not match its declared size.
    #[error("buffer of {len} bytes does not hold a {width}x{height}x{channels} image")]
    BadBufferLength {
        /// Declared width.
        width: usize,
        /// Declared height.
        height: usize,
        /// Channels per pixel.
        channels: usize,
        /// Actual buffer length.
        len: usize,
    },
    /// Two images that must have the same size do not.
    #[error("image sizes differ: {0}x{1} vs {2}x{3}")]
    SizeMismatch(usize, usize, usize, usize),
    /// A patch position lies outside the image's patch grid.
    #[error("patch ({row}, {col}) is outside the {rows}x{cols} patch grid of the image")]
    PatchOutside {
        /// Patch row asked for.
        row: usize,
        /// Patch column asked for.
        col: usize,
        /// Patch rows of the image.
        rows: usize,
        /// Patch columns of the image.
        cols: usize,
    },
    /// A parameter is outside the range the operation accepts.
    #[error("{name} = {value}: {requirement}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Its value, as written by `{:?}`.
        value: String,
        /// What it must be.
        requirement: &'static str,
    },
}
