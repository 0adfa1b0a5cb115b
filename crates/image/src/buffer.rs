//! Typed image buffers: row-major, interleaved, no padding.

use crate::ImageError;

/// An 8-bit RGB image, row-major, 3 interleaved bytes per pixel (R, G, B).
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

impl RgbImage {
    /// Wraps `data` (length `width * height * 3`), refusing a wrong length.
    pub fn from_vec(width: usize, height: usize, data: Vec<u8>) -> Result<Self, ImageError> {
        if width.checked_mul(height).and_then(|n| n.checked_mul(3)) != Some(data.len()) {
            return Err(ImageError::BadBufferLength { width, height, channels: 3, len: data.len() });
        }
        Ok(Self { width, height, data })
    }

    /// An all-zero (black) image.
    pub fn zeros(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0; width * height * 3] }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The interleaved bytes, row-major.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Mutable access to the interleaved bytes.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Gives back the interleaved bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// One row of `width * 3` bytes.
    ///
    /// # Panics
    /// When `y >= height`, as slice indexing does.
    pub fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.width * 3..(y + 1) * self.width * 3]
    }
}

/// An 8-bit single-channel image, row-major.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GrayImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl GrayImage {
    /// Wraps `data` (length `width * height`), refusing a wrong length.
    pub fn from_vec(width: usize, height: usize, data: Vec<u8>) -> Result<Self, ImageError> {
        if width.checked_mul(height) != Some(data.len()) {
            return Err(ImageError::BadBufferLength { width, height, channels: 1, len: data.len() });
        }
        Ok(Self { width, height, data })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The bytes, row-major.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }
}

/// A dense optical-flow field: per pixel `(dx, dy)` in pixels, interleaved,
/// row-major (the layout of OpenCV's `CV_32FC2` and of the fixtures' `flow`).
#[derive(Clone, PartialEq, Debug)]
pub struct FlowField {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl FlowField {
    /// Wraps `data` (length `width * height * 2`), refusing a wrong length.
    pub fn from_vec(width: usize, height: usize, data: Vec<f32>) -> Result<Self, ImageError> {
        if width.checked_mul(height).and_then(|n| n.checked_mul(2)) != Some(data.len()) {
            return Err(ImageError::BadBufferLength { width, height, channels: 2, len: data.len() });
        }
        Ok(Self { width, height, data })
    }

    /// An all-zero field.
    pub fn zeros(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; width * height * 2] }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Interleaved `(dx, dy)` values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Mutable interleaved values.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }
}
