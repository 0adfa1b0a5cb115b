//! Typed image buffers: row-major, interleaved, no padding. One generic
//! type, [`ImageBuffer`] (as image-rs's `ImageBuffer<P, C>`), with the
//! three the pipeline uses as aliases: [`RgbImage`], [`GrayImage`] and
//! [`FlowField`].

use crate::ImageError;

/// A `width x height` image of `C` interleaved samples of type `T` per
/// pixel, row-major, no padding.
#[derive(Clone, PartialEq)]
pub struct ImageBuffer<T, const C: usize> {
    width: usize,
    height: usize,
    data: Vec<T>,
}

/// An 8-bit RGB image, 3 interleaved bytes per pixel (R, G, B).
pub type RgbImage = ImageBuffer<u8, 3>;

/// An 8-bit single-channel image.
pub type GrayImage = ImageBuffer<u8, 1>;

/// A dense optical-flow field: per pixel `(dx, dy)` in pixels, interleaved
/// (the layout of OpenCV's `CV_32FC2` and of the fixtures' `flow`).
pub type FlowField = ImageBuffer<f32, 2>;

impl<T: Eq, const C: usize> Eq for ImageBuffer<T, C> {}

impl<T, const C: usize> std::fmt::Debug for ImageBuffer<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageBuffer<{}, {C}>({}x{})", std::any::type_name::<T>(), self.width, self.height)
    }
}

impl<T, const C: usize> ImageBuffer<T, C> {
    /// Wraps `data` (length `width * height * C`), refusing a wrong length.
    pub fn from_vec(width: usize, height: usize, data: Vec<T>) -> Result<Self, ImageError> {
        if width.checked_mul(height).and_then(|n| n.checked_mul(C)) != Some(data.len()) {
            return Err(ImageError::BadBufferLength { width, height, channels: C, len: data.len() });
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

    /// The interleaved samples, row-major.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// Mutable access to the interleaved samples.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// Gives back the interleaved samples.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// One row of `width * C` samples.
    ///
    /// # Panics
    /// When `y >= height`, as slice indexing does.
    pub fn row(&self, y: usize) -> &[T] {
        &self.data[y * self.width * C..(y + 1) * self.width * C]
    }
}

impl<T: Clone + Default, const C: usize> ImageBuffer<T, C> {
    /// An all-zero image (black; a still flow field).
    pub fn zeros(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![T::default(); width * height * C] }
    }
}

impl<const C: usize> ImageBuffer<u8, C> {
    /// The interleaved bytes, row-major (what [`ImageBuffer::as_slice`]
    /// gives, under the name byte-oriented callers read best).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Mutable access to the interleaved bytes.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}
